import Foundation
import Logging
import LookoutCore
import LookoutMetrics
import Prometheus
import ServiceLifecycle
import Synchronization

/// Somewhere alerts go. `send` must return at once; delivery happens elsewhere.
public protocol AlertNotifier: Sendable {
    func send(_ alert: Alert)
    /// Takes back an alert that was firing before a restart, without sending it as new.
    func resume(_ alert: Alert)
}

extension AlertNotifier {
    public func resume(_ alert: Alert) {}
}

extension HTTPNotifier: AlertNotifier {}

/// Publishes each alert as JSON on a bus channel (`lookout:alerts`), so services can react.
/// The publish itself is given (the relay in process, or a Redis connection) and takes what is
/// queued together: a burst of alerts costs one hand-over to the relay's event loop, not one
/// each. Runs as a `Service`: it publishes until graceful shutdown, then publishes what is
/// still queued.
public final class BusNotifier: AlertNotifier, Service {
    public let channel: String
    private let publish: @Sendable ([String]) async -> [Bool]
    private let onDelivery: @Sendable (AlertDelivery) -> Void
    private let queue = Mutex<[(alert: Alert, fencingToken: UInt64?)]>([])
    /// Rung when the queue gains an alert; rings coalesce.
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation
    private let outcomes: AlertsSentCounters
    private let gate: (any NotificationGate)?

    /// Alerts waiting at most; beyond, they are dropped and counted.
    public static let capacity = 10_000
    /// Alerts handed to one publish at most.
    public static let batchLimit = 256

    /// - Parameters:
    ///   - publish: publishes payloads on the bus channel, in order; returns whether each was accepted.
    ///   - registry: where `lookout_alerts_sent_total{notifier="bus"}` is counted.
    ///   - gate: in an HA pair, decides whether this instance publishes.
    public init(channel: String, registry: PrometheusCollectorRegistry, gate: (any NotificationGate)? = nil,
                publish: @escaping @Sendable ([String]) async -> [Bool], onDelivery: @escaping @Sendable (AlertDelivery) -> Void = { _ in }) {
        self.channel = channel
        self.publish = publish
        self.onDelivery = onDelivery
        self.gate = gate
        (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        outcomes = AlertsSentCounters(notifier: "bus", registry: registry)
    }

    /// How this notifier is named in deliveries, and in an HA group's delivery log.
    public var notifierName: String { "bus \(channel)" }

    public func run() async throws {
        await withGracefulShutdownHandler {
            for await _ in doorbell { await publishQueued() }
        } onGracefulShutdown: {
            self.ring.finish()
        }
        await publishQueued()
    }

    /// Publishes what is queued, in batches, until the queue is empty.
    private func publishQueued() async {
        while true {
            let batch = queue.withLock { queue in
                defer { queue.removeFirst(min(queue.count, Self.batchLimit)) }
                return Array(queue.prefix(Self.batchLimit))
            }
            guard !batch.isEmpty else { return }
            let current = batch.filter { alert, token in
                guard let gate, let token, gate.token() != token else { return true }
                gate.withheld(alert, notifier: notifierName)
                return false
            }
            guard !current.isEmpty else { continue }
            let accepted = await publish(current.map { Self.json($0.alert, fencingToken: $0.fencingToken) })
            for (index, (alert, token)) in current.enumerated() {
                let published = index < accepted.count && accepted[index]
                (published ? outcomes.success : outcomes.failure).increment()
                if published, let gate, let token { gate.delivered(alert, notifier: notifierName, token: token) }
                onDelivery(AlertDelivery(alert: alert, notifier: notifierName, outcome: published ? .success : .failure, attempts: 1,
                                         error: published ? nil : "publish failed"))
            }
        }
    }

    /// Queues an alert; counted as dropped if ``capacity`` are already waiting.
    public func send(_ alert: Alert) {
        var token: UInt64?
        if let gate {
            guard let admitted = gate.admit(alert, notifier: notifierName) else { return }
            token = admitted
        }
        let queued = queue.withLock { queue in
            guard queue.count < Self.capacity else { return false }
            queue.append((alert, token))
            return true
        }
        guard queued else {
            outcomes.dropped.increment()
            onDelivery(AlertDelivery(alert: alert, notifier: notifierName, outcome: .dropped, attempts: 0, error: "queue full"))
            return
        }
        ring.yield()
    }

    /// `{"status":"firing","labels":{…},"annotations":{…},"startsAt":…,"endsAt":…,"fingerprint":…}`
    /// (and `fencingToken` in an HA pair): one entry of the webhook's `alerts`, encoded once.
    public static func json(_ alert: Alert, fencingToken: UInt64? = nil) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(WebhookPayload.Entry(alert, generatorURL: "", fencingToken: fencingToken)) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Writes each alert to the log.
public struct LogNotifier: AlertNotifier {
    let logger: Logger

    public init(logger: Logger = Logger(label: "lookout.alerts")) {
        self.logger = logger
    }

    public func send(_ alert: Alert) {
        logger.log(level: alert.status == .firing ? .error : .notice, "alert \(alert.status.rawValue): \(alert.name)", metadata: [
            "labels": "\(alert.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
            "summary": "\(alert.annotations["summary"] ?? "")",
        ])
    }
}

/// `lookout_alerts_sent_total{notifier, outcome}` of one notifier, every outcome exported from
/// the start (at 0), so a dashboard shows 0 rather than "No data".
struct AlertsSentCounters: Sendable {
    let success: Counter
    let failure: Counter
    let dropped: Counter
    /// Failed attempts, each retry included: a receiver that errors or never answers shows here
    /// long before its alerts count as failed.
    let attemptErrors: Counter

    init(notifier: String, registry: PrometheusCollectorRegistry) {
        func counter(_ outcome: String) -> Counter {
            registry.counter("lookout_alerts_sent_total", labels: [("notifier", notifier), ("outcome", outcome)],
                             help: "Alert deliveries, by notifier and outcome.")
        }
        success = counter("success")
        failure = counter("failure")
        dropped = counter("dropped")
        attemptErrors = registry.counter("lookout_alert_delivery_errors_total", labels: [("notifier", notifier)],
                                         help: "Failed alert delivery attempts (each retry counts): errors and receivers that did not answer in time.")
    }
}

/// Decides whether this instance sends notifications (in an HA pair, only the holder of the
/// group's lease does) and hears what was delivered, so that a new holder sends only what the
/// old one did not. Consulted by the notifiers a pair shares (webhooks, the bus) when an alert
/// is queued and again before each delivery attempt.
public protocol NotificationGate: Sendable {
    /// The fencing token under which `notifier` queues `alert` now; nil when this instance does
    /// not notify (another holds the lease, or this one already queued that state of the alert
    /// in this term), the alert then being left to the holder and counted as withheld.
    func admit(_ alert: Alert, notifier: String) -> UInt64?
    /// The fencing token while this instance holds the lease; a delivery whose token is no
    /// longer it is abandoned (and counted as withheld).
    func token() -> UInt64?
    /// `notifier` delivered `alert` under `token`.
    func delivered(_ alert: Alert, notifier: String, token: UInt64)
    /// `notifier` abandoned `alert` because the lease was lost before it was delivered.
    func withheld(_ alert: Alert, notifier: String)
}
