import Glob

/// Who consumes a channel through patterns (`PSUBSCRIBE`), as far as Lookout can know. Pure.
///
/// On the relay Lookout sees each message's receivers, so a channel's pattern subscribers are
/// exact. On Redis the patterns other clients hold cannot be listed (Redis says how many there
/// are, not which), so the known ones are the globs the user declares consumed
/// (`consumers.patterns`) and those that live heartbeating consumers declare; a channel with no
/// subscriber that no known glob matches, while unattributed patterns exist, may be consumed or
/// not: its consumption is unknown, and it is never reported as without consumers.
public struct PatternConsumers: Sendable, Hashable {
    /// Pattern subscribers of one channel, and whether nobody can tell if it is consumed.
    public struct Assessment: Sendable, Hashable {
        public var patternSubscribers: Int
        public var unknown: Bool

        public init(patternSubscribers: Int, unknown: Bool) {
            self.patternSubscribers = patternSubscribers
            self.unknown = unknown
        }
    }

    /// Globs known to be consumed through a pattern.
    public var known: [String]
    /// Pattern subscriptions held by clients Lookout cannot attribute (0 on the relay).
    public var unattributed: Int

    public init(known: some Sequence<String> = [], unattributed: Int = 0) {
        self.known = Array(Set(known)).sorted()
        self.unattributed = unattributed
    }

    /// Judges `channel`: `exact` is what the source saw its last message reach (nil when the
    /// source cannot tell), `subscribers` its plain subscribers.
    public func assess(_ channel: String, subscribers: Int, exact: Int?) -> Assessment {
        if let exact { return Assessment(patternSubscribers: exact, unknown: false) }
        // No foreign pattern at all: nothing but plain subscribers can receive the channel.
        guard unattributed > 0 else { return Assessment(patternSubscribers: 0, unknown: false) }
        let matching = known.lazy.filter { GlobPattern.matches(pattern: $0, subject: channel) }.count
        return Assessment(patternSubscribers: min(matching, unattributed), unknown: subscribers == 0 && matching == 0)
    }

    /// Whether a declared channel entry is a glob rather than a plain name.
    public static func isPattern(_ entry: String) -> Bool {
        entry.utf8.contains { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") }
    }
}
