import LookoutCore
import NIOCore
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

    /// One channel's sums in the current batch.
    private struct Sums {
        var name: String
        var messages = 0
        var bytes = 0
        var unrouted = 0
        var latencies: [Double] = []
    }

    /// Touched only on the relay's event loop (every observer call comes from it).
    nonisolated(unsafe) private var sums: [ByteBuffer: Sums] = [:]
    /// Channels with something to hand over, in the order they were first seen in the batch.
    nonisolated(unsafe) private var dirty: [ByteBuffer] = []
    /// The last channel updated and where it is: a run of messages on one channel (the usual
    /// burst) compares bytes instead of hashing them.
    nonisolated(unsafe) private var last: (channel: ByteBuffer, index: Dictionary<ByteBuffer, Sums>.Index)?
    /// Channels remembered at most (names and buffers are kept between batches to avoid
    /// allocating); beyond it the table starts afresh.
    private static let maxChannels = 10_000

    public init(queue: ObservationQueue, heartbeatChannel: String = HeartbeatTracker.defaultChannel,
                clock: @escaping @Sendable () -> Double = wallClockSeconds) {
        self.queue = queue
        self.heartbeatChannel = ByteBuffer(string: heartbeatChannel)
        self.clock = clock
    }

    public var observesDeliveries: Bool { true }

    public func relayDidPublish(_ observation: PublishObservation) {
        if observation.channel == heartbeatChannel {
            queue.offer(.heartbeat(payload: Array(observation.payload.readableBytesView.prefix(Heartbeat.maxBytes + 1)), at: clock()))
        }
        update(observation.channel) { sums in
            sums.messages += 1
            sums.bytes += observation.payloadBytes
            if observation.receivers == 0 { sums.unrouted += 1 }
        }
    }

    public func relayDidDeliver(_ observation: DeliveryObservation) {
        let seconds = Double((observation.writtenAt - observation.acceptedAt).nanoseconds) / 1e9
        update(observation.channel) { $0.latencies.append(max(0, seconds)) }
    }

    public func relayDidFinishBatch() {
        guard !dirty.isEmpty else { return }
        let now = clock()
        for channel in dirty {
            guard var entry = sums[channel] else { continue }
            if entry.messages > 0 {
                queue.offer(.traffic(channel: entry.name, messages: entry.messages, bytes: entry.bytes, unrouted: entry.unrouted, at: now))
            }
            if !entry.latencies.isEmpty {
                queue.offer(.latencies(channel: entry.name, seconds: entry.latencies))
            }
            entry.messages = 0
            entry.bytes = 0
            entry.unrouted = 0
            entry.latencies = []
            sums[channel] = entry
        }
        dirty.removeAll(keepingCapacity: true)
        last = nil
    }

    /// Applies `change` to `channel`'s sums, marking it for the end of the batch.
    private func update(_ channel: ByteBuffer, _ change: (inout Sums) -> Void) {
        let index: Dictionary<ByteBuffer, Sums>.Index
        if let last, last.channel == channel {
            index = last.index
        } else if let found = sums.index(forKey: channel) {
            index = found
        } else {
            if sums.count >= Self.maxChannels {
                relayDidFinishBatch()
                sums.removeAll()
            }
            last = nil
            // Copy the key: the channel is a slice of a receive buffer that must not be kept.
            let key = ByteBuffer(buffer: channel)
            sums[key] = Sums(name: String(buffer: channel))
            index = sums.index(forKey: key)!
        }
        last = (sums.keys[index], index)
        let wasIdle = sums.values[index].messages == 0 && sums.values[index].latencies.isEmpty
        change(&sums.values[index])
        if wasIdle { dirty.append(sums.keys[index]) }
    }

    /// Named subscribed connections are consumers too: their going away is a failure.
    public func relayClientDidChange(_ observation: ClientObservation) {
        guard !observation.name.isEmpty else { return }
        let subscribed = observation.event != .disconnected && observation.subscriptions > 0
        let reason = observation.event == .disconnected
            ? "subscribed connection \(observation.address) closed" : "connection unsubscribed from everything"
        queue.offer(.namedConnection(name: observation.name, subscribed: subscribed, reason: reason, at: clock()))
    }
}
