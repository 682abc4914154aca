import Foundation
import Logging
import LookoutCore
import LookoutMetrics
import Prometheus
import ServiceLifecycle

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
/// The publish itself is given (the relay in process, or a Redis connection). Runs as a
/// `Service`: it publishes until graceful shutdown, then publishes what is still queued.
public final class BusNotifier: AlertNotifier, Service {
    public let channel: String
    private let publish: @Sendable (String) async -> Bool
    private let onDelivery: @Sendable (AlertDelivery) -> Void
    private let stream: AsyncStream<Alert>
    private let continuation: AsyncStream<Alert>.Continuation
    private let outcomes: AlertsSentCounters

    /// - Parameters:
    ///   - publish: publishes one payload on the bus channel; returns whether it was accepted.
    ///   - registry: where `lookout_alerts_sent_total{notifier="bus"}` is counted.
    public init(channel: String, registry: PrometheusCollectorRegistry, publish: @escaping @Sendable (String) async -> Bool,
                onDelivery: @escaping @Sendable (AlertDelivery) -> Void = { _ in }) {
        self.channel = channel
        self.publish = publish
        self.onDelivery = onDelivery
        (stream, continuation) = AsyncStream.makeStream(of: Alert.self, bufferingPolicy: .bufferingOldest(10_000))
        outcomes = AlertsSentCounters(notifier: "bus", registry: registry)
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            for await alert in stream {
                let accepted = await publish(Self.json(alert))
                (accepted ? outcomes.success : outcomes.failure).increment()
                onDelivery(AlertDelivery(alert: alert, notifier: "bus \(channel)", outcome: accepted ? .success : .failure, attempts: 1,
                                         error: accepted ? nil : "publish failed"))
            }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
    }

    /// Queues an alert; counted as dropped if 10,000 are already waiting.
    public func send(_ alert: Alert) {
        if case .dropped = continuation.yield(alert) {
            outcomes.dropped.increment()
            onDelivery(AlertDelivery(alert: alert, notifier: "bus \(channel)", outcome: .dropped, attempts: 0, error: "queue full"))
        }
    }

    /// `{"status":"firing","labels":{…},"annotations":{…},"startsAt":…,"endsAt":…,"fingerprint":…}`
    /// One entry of the webhook's `alerts`, encoded once.
    public static func json(_ alert: Alert) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(WebhookPayload.Entry(alert, generatorURL: "")) else { return "{}" }
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
