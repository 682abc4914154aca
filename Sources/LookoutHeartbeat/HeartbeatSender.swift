import Foundation
import GracefulStop
import Logging
import ServiceLifecycle
import Synchronization

/// Sends Lookout heartbeats (contract v1) for a Swift consumer: add it to your `ServiceGroup`,
/// call ``recordReceived(_:)``, ``recordProcessed(_:publishedAt:)`` and ``recordFailed(_:)`` as you
/// work (and ``setPending(_:)`` if you keep a local queue), and it publishes
/// `{"v":1,"consumer":…,"processed":…}` on `lookout:heartbeat` every interval, reconnecting as
/// needed; on graceful shutdown it says goodbye (`"state":"stopping"`) so no alert fires.
public final class HeartbeatSender: Service, Sendable {
    /// Who the consumer is and where to send.
    public struct Configuration: Sendable {
        public var consumer: String
        public var group: String?
        public var interval: Duration = .seconds(5)
        public var channels: [String] = []
        public var host = "127.0.0.1"
        public var port = 6380
        public var password: String?
        /// Lookout's `OwnChannels.heartbeat` (this client library does not depend on Lookout's
        /// core; a test checks that the two agree).
        public var heartbeatChannel = "lookout:heartbeat"
        /// Send the processed and failed counts. Turn off for a sender that processes nothing
        /// itself (a shell script's liveness beat): with no counts, no stall can be judged.
        public var reportsProgress = true

        public init(consumer: String) {
            self.consumer = consumer
        }
    }

    public let configuration: Configuration
    private let processed = Atomic<UInt64>(0)
    private let failed = Atomic<UInt64>(0)
    private let received = Atomic<UInt64>(0)
    private let reportsReceived = Atomic<Bool>(false)
    /// -1 while unknown.
    private let pending = Atomic<Int64>(-1)
    /// Publish time of the last finished event, ms since the epoch; -1 while unknown.
    private let lastEventMilliseconds = Atomic<Int64>(-1)
    private let sent = Atomic<Int>(0)
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "lookout.heartbeat")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Adds to the running count of processed messages; `publishedAt`, when the event says when it
    /// was published, lets Lookout report the processing delay.
    public func recordProcessed(_ count: UInt64 = 1, publishedAt: Date? = nil) {
        processed.add(count, ordering: .relaxed)
        if let publishedAt { lastEventMilliseconds.store(Int64(publishedAt.timeIntervalSince1970 * 1000), ordering: .relaxed) }
    }
    /// Adds to the running count of messages taken off the bus: with it, Lookout knows the
    /// backlog (received − processed) and when it only grows.
    public func recordReceived(_ count: UInt64 = 1) {
        received.add(count, ordering: .relaxed)
        reportsReceived.store(true, ordering: .relaxed)
    }
    /// Messages received and not yet processed (a local queue's depth), or nil when unknown.
    public func setPending(_ count: UInt64?) { pending.store(count.map { Int64(clamping: $0) } ?? -1, ordering: .relaxed) }
    /// Adds to the running count of failed messages.
    public func recordFailed(_ count: UInt64 = 1) { failed.add(count, ordering: .relaxed) }
    /// Heartbeats published so far.
    public var heartbeatsSent: Int { sent.load(ordering: .relaxed) }

    /// The JSON of one heartbeat.
    public func payload(stopping: Bool = false, now: Date = Date()) -> String {
        var fields: [String: Any] = [
            "v": 1, "consumer": configuration.consumer,
            "interval_ms": Int(configuration.interval.components.seconds * 1000 + configuration.interval.components.attoseconds / 1_000_000_000_000_000),
            "ts": Int(now.timeIntervalSince1970 * 1000),
        ]
        if configuration.reportsProgress {
            fields["processed"] = processed.load(ordering: .relaxed)
            fields["failed"] = failed.load(ordering: .relaxed)
            if reportsReceived.load(ordering: .relaxed) { fields["received"] = received.load(ordering: .relaxed) }
            if case let queued = pending.load(ordering: .relaxed), queued >= 0 { fields["pending"] = queued }
            if case let last = lastEventMilliseconds.load(ordering: .relaxed), last >= 0 { fields["last_event_ts"] = last }
        }
        if let group = configuration.group { fields["group"] = group }
        if !configuration.channels.isEmpty { fields["channels"] = configuration.channels }
        if stopping { fields["state"] = "stopping" }
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    public func run() async throws {
        let publisher = RESPPublisher(host: configuration.host, port: configuration.port, password: configuration.password)
        // The goodbye goes out at once on graceful shutdown, not after the current interval.
        await cancelWhenStopping {
            while !Task.isCancelled {
                do {
                    try await publisher.publish(self.payload(), on: self.configuration.heartbeatChannel)
                    self.sent.add(1, ordering: .relaxed)
                } catch {
                    self.logger.warning("heartbeat not sent", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: self.configuration.interval)
            }
        }
        // The goodbye is what keeps a planned stop from alerting: a failed send (a connection cut
        // as the service stopped) is tried once more on a fresh connection, and logged.
        for attempt in 1...2 {
            do {
                try await publisher.publish(payload(stopping: true), on: configuration.heartbeatChannel)
                break
            } catch {
                logger.warning("goodbye heartbeat not sent", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
            }
        }
        await publisher.close()
    }
}
