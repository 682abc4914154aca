/// What is unhealthy at one monitor refresh: the input of the condition alerts.
public struct HealthSnapshot: Sendable, Hashable {
    /// Channel labels with traffic and no live consumer.
    public var unservedChannels: [String]
    /// Sources that are not connected.
    public var sourcesDown: [String]
    /// Seconds since the epoch.
    public var at: Double

    public init(unservedChannels: [String], sourcesDown: [String], at: Double) {
        self.unservedChannels = unservedChannels
        self.sourcesDown = sourcesDown
        self.at = at
    }

    /// Every condition true in this snapshot, as ``ConditionAlerts`` takes them:
    /// `LookoutChannelWithoutConsumers` per unserved channel, `LookoutSourceDown` per lost source.
    public var conditions: [ConditionAlerts.Condition] {
        let channels: [ConditionAlerts.Condition] = unservedChannels.map { channel in
            .init(labels: ["alertname": "LookoutChannelWithoutConsumers", "channel": channel, "severity": "warning", "source": "lookout"],
                  summary: "Channel \(channel) carries traffic with no live consumer",
                  description: "Messages are published on \(channel) while no subscriber or declared consumer is alive: they are being lost.")
        }
        let sources: [ConditionAlerts.Condition] = sourcesDown.map { source in
            .init(labels: ["alertname": "LookoutSourceDown", "source": source, "severity": "critical"],
                  summary: "Lookout lost its subscription to \(source)",
                  description: "Lookout cannot see traffic on \(source); channel and consumer health there are unknown.")
        }
        return channels + sources
    }
}
