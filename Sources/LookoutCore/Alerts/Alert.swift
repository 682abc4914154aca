import Foundation

/// One alert: an identity (its labels), when it started, when it ended, and what to tell a human.
public struct Alert: Sendable, Hashable {
    public enum Status: String, Sendable, Codable {
        case firing, resolved
    }

    /// Labels, `alertname` included; they identify the alert.
    public var labels: [String: String]
    /// `summary` and `description`.
    public var annotations: [String: String]
    public var startsAt: Date
    /// Set when the alert resolved.
    public var endsAt: Date?

    public init(labels: [String: String], annotations: [String: String], startsAt: Date, endsAt: Date? = nil) {
        self.labels = labels
        self.annotations = annotations
        self.startsAt = startsAt
        self.endsAt = endsAt
    }

    public var status: Status { endsAt == nil ? .firing : .resolved }
    public var name: String { labels["alertname"] ?? "" }

    /// A stable identity from the labels (what Alertmanager calls the fingerprint).
    public var fingerprint: String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            for byte in (key + "\u{1}" + value + "\u{2}").utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
            }
        }
        return String(hash, radix: 16)
    }
}

/// Turns consumer state changes into alerts: `down` fires LookoutConsumerDown, `stalled` fires
/// LookoutConsumerStalled, `lagging` fires LookoutConsumerLagging (a warning), and the return to
/// `up` (or a clean goodbye) resolves them. Reconnects within the grace and restarts are not
/// changes of state: they fire and resolve nothing. Pure: it only remembers which alerts are firing.
public struct ConsumerAlertRules: Sendable {
    private var firing: [String: Alert] = [:]

    public init() {}

    /// The alerts to send for one transition (firing, resolved, or both).
    public mutating func alerts(for change: HeartbeatTracker.ConsumerTransition) -> [Alert] {
        let at = Date(timeIntervalSince1970: change.transition.at)
        var out: [Alert] = []
        func resolve(_ name: String) {
            let key = name + "\u{0}" + change.consumer
            guard var alert = firing.removeValue(forKey: key) else { return }
            alert.endsAt = at
            out.append(alert)
        }
        func fire(_ name: String, summary: String, severity: String = "critical") {
            let key = name + "\u{0}" + change.consumer
            guard firing[key] == nil else { return }
            let alert = Alert(
                labels: ["alertname": name, "consumer": change.consumer, "group": change.group, "severity": severity, "source": "lookout"],
                annotations: ["summary": summary, "description": change.transition.reason],
                startsAt: at)
            firing[key] = alert
            out.append(alert)
        }
        guard change.transition.kind == .change else { return [] }
        switch change.transition.to {
        case .down:
            resolve("LookoutConsumerStalled")
            resolve("LookoutConsumerLagging")
            fire("LookoutConsumerDown", summary: "Consumer \(change.consumer) is down")
        case .stalled:
            resolve("LookoutConsumerLagging")
            fire("LookoutConsumerStalled", summary: "Consumer \(change.consumer) has stopped processing")
        case .lagging:
            fire("LookoutConsumerLagging", summary: "Consumer \(change.consumer) is falling behind", severity: "warning")
        case .up, .stopped:
            resolve("LookoutConsumerDown")
            resolve("LookoutConsumerStalled")
            resolve("LookoutConsumerLagging")
        case .late:
            break
        }
        return out
    }

    /// The alerts for a group's change of health: `down` fires LookoutGroupDown, leaving it resolves.
    public mutating func alerts(for change: HeartbeatTracker.GroupTransition) -> [Alert] {
        let key = "LookoutGroupDown\u{0}group\u{0}" + change.group
        let at = Date(timeIntervalSince1970: change.at)
        if change.to == .down {
            guard firing[key] == nil else { return [] }
            let alert = Alert(
                labels: ["alertname": "LookoutGroupDown", "group": change.group, "severity": "critical", "source": "lookout"],
                annotations: ["summary": "Every consumer of group \(change.group) is down", "description": change.reason],
                startsAt: at)
            firing[key] = alert
            return [alert]
        }
        guard var alert = firing.removeValue(forKey: key) else { return [] }
        alert.endsAt = at
        return [alert]
    }

    /// Alerts firing now.
    public var active: [Alert] { firing.values.sorted { $0.fingerprint < $1.fingerprint } }

    /// Takes back consumer and group alerts that were firing before a restart.
    public mutating func resume(_ alerts: [Alert]) {
        for alert in alerts where alert.status == .firing {
            switch alert.name {
            case "LookoutConsumerDown", "LookoutConsumerStalled", "LookoutConsumerLagging":
                guard let consumer = alert.labels["consumer"] else { continue }
                firing[alert.name + "\u{0}" + consumer] = alert
            case "LookoutGroupDown":
                guard let group = alert.labels["group"] else { continue }
                firing["LookoutGroupDown\u{0}group\u{0}" + group] = alert
            default:
                continue
            }
        }
    }
}
