import LookoutCore
import Synchronization

/// Applies the consumer alert rules to each transition and hands the resulting alerts to every
/// notifier, holding back those a lost source makes unknowable (``SourceOutageHold``). Called
/// from the monitor; never waits for a delivery.
public final class AlertRouter: MonitorSink, Sendable {
    private let rules = Mutex(ConsumerAlertRules())
    private let conditions: Mutex<ConditionAlerts>
    private let hold: Mutex<SourceOutageHold>
    private let notifiers: [any AlertNotifier]
    private let onAlert: @Sendable (Alert) -> Void

    /// - Parameters:
    ///   - holdFor: seconds a channel or source condition must last before it fires; also how
    ///     long every source must be back before the alerts held during an outage are released.
    ///   - onAlert: called with every alert that fires or resolves (the store hooks in here).
    public init(notifiers: [any AlertNotifier], holdFor: Double = 30, onAlert: @escaping @Sendable (Alert) -> Void = { _ in }) {
        self.notifiers = notifiers
        self.onAlert = onAlert
        self.conditions = Mutex(ConditionAlerts(holdFor: holdFor))
        self.hold = Mutex(SourceOutageHold(settle: holdFor))
    }

    /// Channels with traffic and no live consumer, and lost sources, from one monitor refresh.
    public func handle(_ health: HealthSnapshot) {
        dispatch(hold.withLock { hold in
            let released = hold.update(sources: health.sources, down: health.sourcesDown, at: health.at)
            let held = hold.heldCount
            let active = health.conditions.map { condition in
                guard condition.labels["alertname"] == "LookoutSourceDown", held > 0 else { return condition }
                var summarised = condition
                summarised.description += " \(held) consumer and channel alerts are held until every source is back."
                return summarised
            }
            return hold.filter(conditions.withLock { $0.update(active: active, now: health.at) }, at: health.at) + released
        })
    }

    public func handle(_ change: HeartbeatTracker.ConsumerTransition) {
        let alerts = rules.withLock { $0.alerts(for: change) }
        dispatch(hold.withLock { $0.filter(alerts, at: change.transition.at) })
    }

    public func handle(_ change: HeartbeatTracker.GroupTransition) {
        let alerts = rules.withLock { $0.alerts(for: change) }
        dispatch(hold.withLock { $0.filter(alerts, at: change.at) })
    }

    /// The monitor's events that make or end alerts: consumer and group transitions, health.
    public func receive(_ event: MonitorEvent) {
        switch event {
        case .consumerTransition(let change): handle(change)
        case .groupTransition(let change): handle(change)
        case .health(let health): handle(health)
        case .refreshed, .violation, .integrity, .gap, .shape: break
        }
    }

    /// Takes back alerts that were firing before a restart: they stay firing without being sent
    /// again, and resolve as usual.
    public func resume(firing alerts: [Alert]) {
        let firing = alerts.filter { $0.status == .firing }
        rules.withLock { $0.resume(firing) }
        conditions.withLock { $0.resume(firing) }
        for alert in firing {
            for notifier in notifiers { notifier.resume(alert) }
        }
    }

    /// Alerts firing now.
    public var active: [Alert] {
        (rules.withLock { $0.active } + conditions.withLock { $0.active }).sorted { $0.fingerprint < $1.fingerprint }
    }

    private func dispatch(_ alerts: [Alert]) {
        for alert in alerts {
            onAlert(alert)
            for notifier in notifiers { notifier.send(alert) }
        }
    }
}
