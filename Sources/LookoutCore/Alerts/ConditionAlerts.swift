import Foundation

/// Alerts for conditions that must hold for a while before they fire ("true for N seconds", as a
/// Prometheus rule's `for`): a channel with traffic and no consumer, a lost source. Pure, with
/// time passed in; each update lists every condition true now.
public struct ConditionAlerts: Sendable {
    /// One condition that is true now, identified by its labels.
    public struct Condition: Sendable, Hashable {
        public var labels: [String: String]
        public var summary: String
        public var description: String

        public init(labels: [String: String], summary: String, description: String) {
            self.labels = labels
            self.summary = summary
            self.description = description
        }
    }

    /// How long a condition must hold before it fires, in seconds.
    public var holdFor: Double
    private var pendingSince: [[String: String]: Double] = [:]
    private var firing: [[String: String]: Alert] = [:]

    public init(holdFor: Double) {
        self.holdFor = holdFor
    }

    /// Fires conditions that have held for `holdFor`, resolves firing ones that no longer hold.
    public mutating func update(active: [Condition], now: Double) -> [Alert] {
        var out: [Alert] = []
        let activeLabels = Set(active.map(\.labels))
        for (labels, var alert) in firing where !activeLabels.contains(labels) {
            alert.endsAt = Date(timeIntervalSince1970: now)
            firing[labels] = nil
            out.append(alert)
        }
        pendingSince = pendingSince.filter { activeLabels.contains($0.key) }
        for condition in active where firing[condition.labels] == nil {
            let since = pendingSince[condition.labels] ?? now
            pendingSince[condition.labels] = since
            guard now - since >= holdFor else { continue }
            let alert = Alert(labels: condition.labels, annotations: ["summary": condition.summary, "description": condition.description],
                              startsAt: Date(timeIntervalSince1970: now))
            firing[condition.labels] = alert
            pendingSince[condition.labels] = nil
            out.append(alert)
        }
        return out.sorted { $0.fingerprint < $1.fingerprint }
    }

    /// Takes back condition alerts that were firing before a restart.
    public mutating func resume(_ alerts: [Alert]) {
        for alert in alerts where alert.status == .firing && Self.names.contains(alert.name) {
            firing[alert.labels] = alert
        }
    }

    /// Alerts firing now.
    public var active: [Alert] { Array(firing.values) }

    static let names: Set<String> = ["LookoutChannelWithoutConsumers", "LookoutChannelsWithoutConsumers", "LookoutSourceDown"]
}
