#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Relay

/// The monitor's observer on the embedded relay: turns publishes and deliveries into
/// observations on a bounded queue, on the relay's event loop, without waiting.
public final class RelayTap: RelayObserver {
    public let queue: ObservationQueue
    private let heartbeatChannel: String
    private let clock: @Sendable () -> Double

    public init(queue: ObservationQueue, heartbeatChannel: String = HeartbeatTracker.defaultChannel,
                clock: @escaping @Sendable () -> Double = wallClockSeconds) {
        self.queue = queue
        self.heartbeatChannel = heartbeatChannel
        self.clock = clock
    }

    public var observesDeliveries: Bool { true }

    public func relayDidPublish(_ observation: PublishObservation) {
        let channel = String(buffer: observation.channel)
        let now = clock()
        if channel == heartbeatChannel {
            queue.offer(.heartbeat(payload: Array(observation.payload.readableBytesView.prefix(Heartbeat.maxBytes + 1)), at: now))
        }
        queue.offer(.message(channel: channel, bytes: observation.payloadBytes, receivers: observation.receivers, at: now))
    }

    public func relayDidDeliver(_ observation: DeliveryObservation) {
        let seconds = Double((observation.writtenAt - observation.acceptedAt).nanoseconds) / 1e9
        queue.offer(.latency(channel: String(buffer: observation.channel), seconds: max(0, seconds)))
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

/// Seconds since the Unix epoch.
@Sendable public func wallClockSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
