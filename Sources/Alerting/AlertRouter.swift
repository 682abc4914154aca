import LookoutCore
import Synchronization

/// Applies the consumer alert rules to each transition and hands the resulting alerts to every
/// notifier. Called from the monitor; never waits for a delivery.
public final class AlertRouter: Sendable {
    private let rules = Mutex(ConsumerAlertRules())
    private let conditions: Mutex<ConditionAlerts>
    private let notifiers: [any AlertNotifier]
    private let onAlert: @Sendable (Alert) -> Void

    /// - Parameters:
    ///   - holdFor: seconds a channel or source condition must last before it fires.
    ///   - onAlert: called with every alert that fires or resolves (the store hooks in here).
    public init(notifiers: [any AlertNotifier], holdFor: Double = 30, onAlert: @escaping @Sendable (Alert) -> Void = { _ in }) {
        self.notifiers = notifiers
        self.onAlert = onAlert
        self.conditions = Mutex(ConditionAlerts(holdFor: holdFor))
    }

    /// Channels with traffic and no live consumer, and lost sources, from one monitor refresh.
    public func handle(_ health: HealthSnapshot) {
        dispatch(conditions.withLock { $0.update(active: health.conditions, now: health.at) })
    }

    public func handle(_ change: HeartbeatTracker.ConsumerTransition) {
        dispatch(rules.withLock { $0.alerts(for: change) })
    }

    public func handle(_ change: HeartbeatTracker.GroupTransition) {
        dispatch(rules.withLock { $0.alerts(for: change) })
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
