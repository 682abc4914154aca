import Glob

/// What a named connection was subscribed to when it went away: the channels whose messages it
/// misses until it subscribes again. Bounded: past `limit` names per kind the rest are not kept
/// (a connection with more is judged by the first ones).
public struct ConnectionSubscriptions: Sendable, Hashable {
    /// Exact channel names (classic and sharded).
    public var channels: Set<String>
    /// Glob patterns (PSUBSCRIBE).
    public var patterns: [String]

    public static let limit = 1_000

    public init(channels: some Sequence<String> = [], patterns: some Sequence<String> = []) {
        self.channels = Set(channels.prefix(Self.limit))
        self.patterns = Array(patterns.prefix(Self.limit))
    }

    public var isEmpty: Bool { channels.isEmpty && patterns.isEmpty }

    /// Whether a message on `channel` would have reached the connection.
    public func matches(_ channel: String) -> Bool {
        channels.contains(channel) || patterns.contains { GlobPattern.matches(pattern: $0, subject: channel) }
    }
}
