import Foundation
import Logging

/// Somewhere alerts go. `send` must return at once; delivery happens elsewhere.
public protocol AlertNotifier: Sendable {
    func send(_ alert: Alert)
    /// Takes back an alert that was firing before a restart, without sending it as new.
    func resume(_ alert: Alert)
}

extension AlertNotifier {
    public func resume(_ alert: Alert) {}
}

/// What became of one alert sent to one notifier: what the store records.
public struct AlertDelivery: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable {
        case success, failure, dropped
    }

    public var alert: Alert
    /// The notifier's kind and destination, e.g. `webhook http://…` or `bus lookout:alerts`.
    public var notifier: String
    public var outcome: Outcome
    public var attempts: Int
    public var at: Date
    public var error: String?

    public init(alert: Alert, notifier: String, outcome: Outcome, attempts: Int, at: Date = Date(), error: String? = nil) {
        self.alert = alert
        self.notifier = notifier
        self.outcome = outcome
        self.attempts = attempts
        self.at = at
        self.error = error
    }
}

extension HTTPNotifier: AlertNotifier {}

/// Publishes each alert as JSON on a bus channel (`lookout:alerts`), so services can react.
/// The publish itself is given (the relay in process, or a Redis connection).
public final class BusNotifier: AlertNotifier {
    public static let defaultChannel = "lookout:alerts"
    private let publish: @Sendable (String) async -> Bool
    private let continuation: AsyncStream<Alert>.Continuation
    private let task: Task<Void, Never>

    /// - Parameter publish: publishes one payload on the bus channel; returns whether it was accepted.
    public init(channel: String, publish: @escaping @Sendable (String) async -> Bool,
                onDelivery: @escaping @Sendable (AlertDelivery) -> Void = { _ in }) {
        self.publish = publish
        let (stream, continuation) = AsyncStream.makeStream(of: Alert.self, bufferingPolicy: .bufferingOldest(10_000))
        self.continuation = continuation
        task = Task {
            for await alert in stream {
                let accepted = await publish(Self.json(alert))
                onDelivery(AlertDelivery(alert: alert, notifier: "bus \(channel)", outcome: accepted ? .success : .failure, attempts: 1,
                                         error: accepted ? nil : "publish failed"))
            }
        }
    }

    deinit {
        continuation.finish()
    }

    public func send(_ alert: Alert) {
        continuation.yield(alert)
    }

    /// `{"status":"firing","labels":{…},"annotations":{…},"startsAt":…,"endsAt":…,"fingerprint":…}`
    public static func json(_ alert: Alert) -> String {
        let body = HTTPNotifier.webhookBody(for: [alert], externalURL: "")
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let first = (object["alerts"] as? [Any])?.first,
              let data = try? JSONSerialization.data(withJSONObject: first, options: [.sortedKeys]) else { return "{}" }
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
