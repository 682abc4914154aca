import Glob

/// Turns raw channel names into a bounded set of label values for metrics.
///
/// Grouping rules map many channels to one name (`user:*:events` → `user:*:events`); channels
/// on the exclusion list (keyspace notifications, client-tracking invalidations) are not tracked;
/// the first `maxTrackedChannels` other names are tracked as themselves, and every later one is
/// counted under ``overflowLabel``. Memory stays bounded however many distinct names pass by:
/// only tracked labels are remembered.
public struct ChannelGrouping: Sendable, Hashable {
    /// A glob (Redis syntax) and the label every matching channel is counted under.
    public struct Rule: Sendable, Hashable {
        public var pattern: String
        public var label: String

        public init(pattern: String, label: String? = nil) {
            self.pattern = pattern
            self.label = label ?? pattern
        }
    }

    public static let overflowLabel = "__other__"
    /// Keyspace notifications and client-side-caching invalidations are Redis's own traffic.
    public static let defaultExclusions = ["__keyspace@*", "__keyevent@*", "__redis__:*"]

    public var rules: [Rule]
    public var exclusions: [String]
    public var maxTrackedChannels: Int
    private(set) var tracked: Set<String> = []
    /// Messages on channels that did not fit under the cap (added by ``countOverflow(messages:)``).
    public private(set) var overflowCount: UInt64 = 0
    /// Channels an exclusion, a rule or the cap decided (nil: excluded), so each glob runs once
    /// per name, not once per message; bounded, forgotten when full.
    private var decided: [String: String?] = [:]

    public init(rules: [Rule] = [], exclusions: [String] = Self.defaultExclusions, maxTrackedChannels: Int = 1000) {
        self.rules = rules
        self.exclusions = exclusions
        self.maxTrackedChannels = maxTrackedChannels
    }

    /// The label for `channel`, or nil when the channel is excluded. Asking counts nothing: a
    /// latency sample or a subscriber count asks too.
    public mutating func label(for channel: String) -> String? {
        if tracked.contains(channel) { return channel }
        if let decision = decided[channel] { return decision }
        if exclusions.contains(where: { GlobPattern.matches(pattern: $0, subject: channel) }) {
            remember(channel, nil)
            return nil
        }
        if let rule = rules.first(where: { GlobPattern.matches(pattern: $0.pattern, subject: channel) }) {
            remember(channel, rule.label)
            return rule.label
        }
        if tracked.count < maxTrackedChannels {
            tracked.insert(channel)
            return channel
        }
        remember(channel, Self.overflowLabel)
        return Self.overflowLabel
    }

    /// Counts `messages` published on channels labelled ``overflowLabel``.
    public mutating func countOverflow(messages: Int) {
        overflowCount += UInt64(max(0, messages))
    }

    private mutating func remember(_ channel: String, _ label: String?) {
        if decided.count >= 10_000 { decided.removeAll(keepingCapacity: true) }
        decided[channel] = .some(label)
    }

    /// Number of distinct channel names tracked as themselves.
    public var trackedCount: Int { tracked.count }
}
