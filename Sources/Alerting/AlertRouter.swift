import Monitor
import Synchronization

/// Applies the consumer alert rules to each transition and hands the resulting alerts to every
/// notifier. Called from the monitor; never waits for a delivery.
public final class AlertRouter: Sendable {
    private let rules = Mutex(ConsumerAlertRules())
    private let notifiers: [any AlertNotifier]

    public init(notifiers: [any AlertNotifier]) {
        self.notifiers = notifiers
    }

    public func handle(_ change: HeartbeatTracker.ConsumerTransition) {
        dispatch(rules.withLock { $0.alerts(for: change) })
    }

    public func handle(_ change: HeartbeatTracker.GroupTransition) {
        dispatch(rules.withLock { $0.alerts(for: change) })
    }

    private func dispatch(_ alerts: [Alert]) {
        for alert in alerts {
            for notifier in notifiers { notifier.send(alert) }
        }
    }
}
