/// What is unhealthy at one monitor refresh: the input of the condition alerts.
public struct HealthSnapshot: Sendable, Hashable {
    /// Channel labels with traffic and no live consumer, busiest first.
    public var unservedChannels: [String]
    /// Every source, and those that are not connected.
    public var sources: [String]
    public var sourcesDown: [String]
    /// Seconds since the epoch.
    public var at: Double

    public init(unservedChannels: [String], sources: [String] = [], sourcesDown: [String], at: Double) {
        self.unservedChannels = unservedChannels
        self.sources = sources
        self.sourcesDown = sourcesDown
        self.at = at
    }

    /// Past this many unserved channels, one alert names how many and the busiest few.
    public static let maxChannelAlerts = 10

    /// Channel labels by messages per second, busiest first (ties by label), as
    /// ``unservedChannels`` wants them: past ``maxChannelAlerts``, only the first few are named,
    /// so only as many as an alert names are put in order and the rest follow as they come (a
    /// full sort of thousands of idle channels every second cost more than the rest of the refresh).
    public static func busiestFirst(_ channels: [(label: String, rate: Double)]) -> [String] {
        let busier: ((label: String, rate: Double), (label: String, rate: Double)) -> Bool = { ($1.rate, $0.label) < ($0.rate, $1.label) }
        let named = maxChannelAlerts + 1
        guard channels.count > named else { return channels.sorted(by: busier).map(\.label) }
        var busiest: [(label: String, rate: Double)] = []
        busiest.reserveCapacity(named + 1)
        var rest: [String] = []
        rest.reserveCapacity(channels.count - named)
        for channel in channels {
            guard busiest.count < named || busier(channel, busiest[named - 1]) else {
                rest.append(channel.label)
                continue
            }
            busiest.insert(channel, at: busiest.firstIndex { busier(channel, $0) } ?? busiest.count)
            if busiest.count > named { rest.append(busiest.removeLast().label) }
        }
        return busiest.map(\.label) + rest
    }

    /// Every condition true in this snapshot, as ``ConditionAlerts`` takes them:
    /// `LookoutChannelWithoutConsumers` per unserved channel (or one
    /// `LookoutChannelsWithoutConsumers` when more than ``maxChannelAlerts`` are), and
    /// `LookoutSourceDown` per lost source.
    public var conditions: [ConditionAlerts.Condition] {
        let channels: [ConditionAlerts.Condition] = unservedChannels.count > Self.maxChannelAlerts ? [
            .init(labels: ["alertname": "LookoutChannelsWithoutConsumers", "severity": "warning", "source": "lookout"],
                  summary: "\(unservedChannels.count) channels carry traffic with no live consumer",
                  description: "Messages are published with no subscriber or declared consumer alive on \(unservedChannels.count) channels; "
                      + "the busiest: \(unservedChannels.prefix(5).joined(separator: ", ")). They are being lost."),
        ] : unservedChannels.map { channel in
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
