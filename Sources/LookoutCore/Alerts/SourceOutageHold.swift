/// Keeps back the alerts that depend on Lookout's sources while one of them is down: a lost
/// Redis silences every heartbeat and every count, and each consumer would otherwise be reported
/// down on its own. Held alerts are summarised by `LookoutSourceDown`; once every source has been
/// back for `settle` seconds, those still firing are sent (with their original start), and those
/// that resolved meanwhile are dropped unsent. Pure, with time passed in.
public struct SourceOutageHold: Sendable {
    /// The alerts that say something about consumers or channels, which a lost source makes unknowable.
    public static let dependentAlerts: Set<String> = [
        "LookoutConsumerDown", "LookoutConsumerStalled", "LookoutConsumerLagging", "LookoutGroupDown",
        "LookoutChannelWithoutConsumers", "LookoutChannelsWithoutConsumers",
    ]

    /// Seconds every source must be back before holding ends (consumers need a few heartbeats to recover).
    public var settle: Double
    private var sourcesDown: Set<String> = []
    /// Sources seen up at least once: one still starting is not an outage.
    private var seenUp: Set<String> = []
    private var allUpSince = -Double.infinity
    private var held: [String: Alert] = [:]

    public init(settle: Double) {
        self.settle = settle
    }

    /// Alerts held back now.
    public var heldCount: Int { held.count }

    /// Whether dependent alerts are being held at `now`.
    public func isHolding(at now: Double) -> Bool {
        !sourcesDown.isEmpty || now - allUpSince < settle
    }

    /// Passes `alerts` through, keeping back the dependent ones that fire while holding; the
    /// resolution of a held alert is swallowed with it.
    public mutating func filter(_ alerts: [Alert], at now: Double) -> [Alert] {
        alerts.filter { alert in
            guard Self.dependentAlerts.contains(alert.name) else { return true }
            if alert.status == .resolved {
                return held.removeValue(forKey: alert.fingerprint) == nil
            }
            guard isHolding(at: now) else { return true }
            held[alert.fingerprint] = alert
            return false
        }
    }

    /// Takes every source and those down now; returns the held alerts released when holding ends.
    public mutating func update(sources: [String], down: [String], at now: Double) -> [Alert] {
        seenUp.formUnion(Set(sources).subtracting(down))
        let lost = Set(down).intersection(seenUp)
        if lost.isEmpty && !sourcesDown.isEmpty { allUpSince = now }
        sourcesDown = lost
        guard !isHolding(at: now), !held.isEmpty else { return [] }
        defer { held = [:] }
        return held.values.sorted { ($0.startsAt, $0.fingerprint) < ($1.startsAt, $1.fingerprint) }
    }
}
