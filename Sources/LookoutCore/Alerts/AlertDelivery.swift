import Foundation

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
