import Monitor
import Synchronization

/// Applies the consumer alert rules to each transition and hands the resulting alerts to every
/// notifier. Called from the monitor; never waits for a delivery.
public final class AlertRouter: Sendable {
    private let rules = Mutex(ConsumerAlertRules())
    private let conditions: Mutex<ConditionAlerts>
    private let notifiers: [any AlertNotifier]

    /// - Parameter holdFor: seconds a channel or source condition must last before it fires.
    public init(notifiers: [any AlertNotifier], holdFor: Double = 30) {
        self.notifiers = notifiers
        self.conditions = Mutex(ConditionAlerts(holdFor: holdFor))
    }

    /// Channels with traffic and no live consumer, and lost sources, from one monitor refresh.
    public func handle(_ health: ChannelMonitor.HealthSnapshot) {
        var active: [ConditionAlerts.Condition] = health.unservedChannels.map { channel in
            .init(labels: ["alertname": "LookoutChannelWithoutConsumers", "channel": channel, "severity": "warning", "source": "lookout"],
                  summary: "Channel \(channel) carries traffic with no live consumer",
                  description: "Messages are published on \(channel) while no subscriber or declared consumer is alive: they are being lost.")
        }
        active += health.sourcesDown.map { source in
            .init(labels: ["alertname": "LookoutSourceDown", "source": source, "severity": "critical"],
                  summary: "Lookout lost its subscription to \(source)",
                  description: "Lookout cannot see traffic on \(source); channel and consumer health there are unknown.")
        }
        dispatch(conditions.withLock { $0.update(active: active, now: health.at) })
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
