import LookoutCore
import NIOCore
import Observations
import Relay

/// The monitor's observer on the embedded relay: turns publishes and deliveries into
/// observations on a bounded queue, on the relay's event loop, without waiting.
///
/// Publishes and delivery times are summed per channel on the event loop and handed over once
/// per batch (``relayDidFinishBatch()``): one observation per channel per read batch instead
/// of one per message, which is what keeps watching cheap at a million messages a second.
public final class RelayTap: RelayObserver {
    public let queue: ObservationQueue
    private let heartbeatChannel: ByteBuffer
    private let clock: @Sendable () -> Double
    /// Where messages on contracted channels go to be judged, and samples of the others for
    /// shape inference; nil without either.
    private let events: EventHandOver?

    /// Touched only on the relay's event loop (every observer call comes from it).
    nonisolated(unsafe) private var sums = ChannelSums()
    /// Subscribed named connections: each one's name, and each name's connections.
    nonisolated(unsafe) private var namedClients: [UInt64: String] = [:]
    nonisolated(unsafe) private var subscribedByName: [String: Set<UInt64>] = [:]
    /// Each channel published on: its name, whether a contract covers it, and its sampling
    /// window; so the globs run, and the name is made, once per channel.
    nonisolated(unsafe) private var covered: [ByteBuffer: Covered] = [:]
    nonisolated(unsafe) private var samples = ShapeSampling.Window(limit: ShapeSampling.perSource)

    private struct Covered {
        var name: String
        var contracted: Bool
        var samples = ShapeSampling.Window(limit: ShapeSampling.perChannel)
    }

    public init(queue: ObservationQueue, heartbeatChannel: String = OwnChannels.heartbeat, events: EventHandOver? = nil,
                clock: @escaping @Sendable () -> Double = wallClockSeconds) {
        self.queue = queue
        self.heartbeatChannel = ByteBuffer(string: heartbeatChannel)
        self.events = events
        self.clock = clock
    }

    public var observesDeliveries: Bool { true }

    /// The channel's slot in the sums, looked up once per run (its messages and deliveries are
    /// counted by slot). Heartbeats, messages on contracted channels and samples of the others
    /// (while their sampling windows have room) are wanted whole; the rest only counted.
    public func relayBeginsRun(on channel: ByteBuffer) -> RunInterest {
        let (slot, handOver) = channel.withUnsafeReadableBytes { sums.slot(of: $0, now: clock) }
        if let handOver { for observation in handOver { queue.offer(observation) } }
        return RunInterest(channelSlot: slot.rawValue, wantsMessages: wantsMessages(on: channel))
    }

    private func wantsMessages(on channel: ByteBuffer) -> Bool {
        guard channel != heartbeatChannel else { return true }
        guard let events else { return false }
        let entry = coveredEntry(channel, in: events)
        if entry.contracted { return true }
        let now = clock()
        return events.infersShapes && entry.samples.hasRoom(at: now) && samples.hasRoom(at: now)
    }

    public func relayDidPublish(_ observation: PublishObservation) {
        if observation.channel == heartbeatChannel {
            queue.offer(.heartbeat(payload: Array(observation.payload.readableBytesView.prefix(Heartbeat.maxBytes + 1)),
                                   source: RelaySource.sourceName, at: clock()))
        }
        guard let events else { return }
        let entry = coveredEntry(observation.channel, in: events)
        if entry.contracted {
            events.offer(channel: entry.name, payload: observation.payload.readableBytesView, at: clock())
        } else if events.infersShapes && observation.channel != heartbeatChannel {
            let now = clock()
            guard covered[observation.channel]!.samples.take(at: now), samples.take(at: now) else { return }
            events.offerSample(channel: entry.name, payload: observation.payload.readableBytesView)
        }
    }

    public func relayDidPublish(run: PublishRun) {
        let count = { (sums: inout ChannelSums.Entry) in
            sums.messages += run.messages
            sums.bytes += run.bytes
            sums.unrouted += run.unrouted
            sums.patternReceivers = run.patternReceivers
        }
        // A run's slot is never stale (the run is handed over before the next one's slot is
        // asked for); looked up by name should that ever change.
        if !sums.update(.init(rawValue: run.channelSlot), count) { update(run.channel, count) }
    }

    private func coveredEntry(_ channel: ByteBuffer, in events: EventHandOver) -> Covered {
        if let known = covered[channel] { return known }
        let contracted = events.covers(channel.readableBytesView)
        if covered.count >= 100_000 { covered.removeAll(keepingCapacity: true) }
        let entry = Covered(name: String(buffer: channel), contracted: contracted)
        covered[ByteBuffer(buffer: channel)] = entry
        return entry
    }

    /// A delivery's time joins its channel's latencies; one whose slot went stale (the table
    /// started afresh past its capacity in between) is left out of them.
    public func relayDidDeliver(_ observation: DeliveryObservation) {
        let seconds = Double((observation.writtenAt - observation.acceptedAt).nanoseconds) / 1e9
        sums.update(.init(rawValue: observation.channelSlot)) {
            $0.latencies.append(LatencySample(seconds: max(0, seconds), count: observation.count))
        }
    }

    public func relayDidFinishBatch() {
        guard !sums.isEmpty else { return }
        for observation in sums.observations(at: clock()) { queue.offer(observation) }
    }

    /// Applies `change` to `channel`'s sums for the end of the batch.
    @inline(__always)
    private func update(_ channel: ByteBuffer, _ change: (inout ChannelSums.Entry) -> Void) {
        let handOver = channel.withUnsafeReadableBytes { sums.update($0, now: clock, change) }
        if let handOver { for observation in handOver { queue.offer(observation) } }
    }

    /// Named subscribed connections are consumers too. Several connections may share a name (a
    /// pool): the consumer is subscribed while any of them is, and leaves when the last one does.
    public func relayClientDidChange(_ observation: ClientObservation) {
        let id = observation.clientID
        let subscribed = observation.event != .disconnected && observation.subscriptions > 0 && !observation.name.isEmpty
        // A connection renamed (or unnamed) while subscribed leaves its old name.
        if let old = namedClients[id], old != observation.name || !subscribed {
            namedClients[id] = nil
            subscribedByName[old]?.remove(id)
            if subscribedByName[old]?.isEmpty == true {
                subscribedByName[old] = nil
                let reason = observation.event == .disconnected
                    ? "subscribed connection \(observation.address) closed" : "connection unsubscribed from everything"
                let left = ConnectionSubscriptions(channels: observation.leftChannels, patterns: observation.leftPatterns)
                offerNamed(.namedConnection(name: old, subscribed: false, reason: reason, left: left, at: clock()))
            }
        }
        guard subscribed, namedClients[id] == nil else { return }
        namedClients[id] = observation.name
        let first = subscribedByName[observation.name, default: []].isEmpty
        subscribedByName[observation.name, default: []].insert(id)
        if first { offerNamed(.namedConnection(name: observation.name, subscribed: true, reason: "", at: clock())) }
    }

    /// Offers a named consumer's change after the traffic summed so far, which was published
    /// before it: the monitor then counts exactly what the consumer missed while away.
    private func offerNamed(_ observation: Observation) {
        relayDidFinishBatch()
        queue.offer(observation)
    }
}
