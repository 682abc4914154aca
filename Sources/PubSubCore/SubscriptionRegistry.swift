import Glob
import NIOCore

/// Who is subscribed to what: the channel, pattern and shard-channel tables of a pub/sub server.
///
/// A plain value with no I/O and no locking: the relay keeps one on its event loop. Channel and
/// pattern names are binary-safe byte buffers. The per-subscriber side (which channels a client
/// holds) lives with the subscriber, as in Redis; this type is the name → subscribers index and
/// drops a name together with its last subscriber.
public struct SubscriptionRegistry<Subscriber: Hashable> {
    /// The kind of subscription a name belongs to.
    public enum Kind: Sendable, Hashable {
        case channel, pattern, shardChannel
    }

    private var channels: [ByteBuffer: Set<Subscriber>] = [:]
    private var patterns: [ByteBuffer: Set<Subscriber>] = [:]
    private var shardChannels: [ByteBuffer: Set<Subscriber>] = [:]

    public init() {}

    private subscript(kind: Kind) -> [ByteBuffer: Set<Subscriber>] {
        get {
            switch kind {
            case .channel: channels
            case .pattern: patterns
            case .shardChannel: shardChannels
            }
        }
        _modify {
            switch kind {
            case .channel: yield &channels
            case .pattern: yield &patterns
            case .shardChannel: yield &shardChannels
            }
        }
    }

    /// Adds `subscriber` to `name`; returns false if it was already there.
    @discardableResult
    public mutating func subscribe(_ subscriber: Subscriber, to name: ByteBuffer, kind: Kind) -> Bool {
        // Store a compact copy: a slice would keep the whole receive buffer alive.
        self[kind][ByteBuffer(buffer: name), default: []].insert(subscriber).inserted
    }

    /// Removes `subscriber` from `name`; returns false if it was not there.
    @discardableResult
    public mutating func unsubscribe(_ subscriber: Subscriber, from name: ByteBuffer, kind: Kind) -> Bool {
        guard let index = self[kind].index(forKey: name) else { return false }
        var removed = false
        self[kind].values[index].remove(subscriber).map { _ in removed = true }
        if self[kind].values[index].isEmpty { self[kind].remove(at: index) }
        return removed
    }

    /// Subscribers of one channel (not counting patterns).
    public func subscribers(of name: ByteBuffer, kind: Kind) -> Set<Subscriber>? {
        self[kind][name]
    }

    /// Number of subscribers of one channel, patterns not counted (PUBSUB NUMSUB / SHARDNUMSUB).
    public func subscriberCount(of name: ByteBuffer, kind: Kind) -> Int {
        self[kind][name]?.count ?? 0
    }

    /// Number of distinct patterns with at least one subscriber (PUBSUB NUMPAT).
    public var patternCount: Int { patterns.count }

    /// Names of the given kind with subscribers, filtered by an optional glob (PUBSUB CHANNELS).
    public func names(kind: Kind, matching glob: ByteBuffer? = nil) -> [ByteBuffer] {
        let all = self[kind].keys
        guard let glob else { return Array(all) }
        return all.filter { name in
            glob.withUnsafeReadableBytes { p in name.withUnsafeReadableBytes { s in GlobPattern.matches(pattern: p, subject: s) } }
        }
    }

    /// Calls `body` once per receiver of a message published on `channel`: every subscriber of the
    /// channel (`pattern` nil), then every subscriber of every matching pattern (a subscriber that
    /// holds the channel and a matching pattern is called for each). Returns the receiver count,
    /// which is PUBLISH's reply.
    @discardableResult
    @inlinable
    public func forEachReceiver(
        ofChannel channel: ByteBuffer, _ body: (Subscriber, _ pattern: ByteBuffer?) throws -> Void
    ) rethrows -> Int {
        var count = 0
        if let direct = channelSubscribers(channel) {
            for subscriber in direct { try body(subscriber, nil) }
            count += direct.count
        }
        if hasPatterns {
            try channel.withUnsafeReadableBytes { subject in
                try forEachPattern { pattern, subscribers in
                    let matched = pattern.withUnsafeReadableBytes { GlobPattern.matches(pattern: $0, subject: subject) }
                    guard matched else { return }
                    for subscriber in subscribers { try body(subscriber, pattern) }
                    count += subscribers.count
                }
            }
        }
        return count
    }

    /// Calls `body` once per subscriber of a shard channel; returns their count (SPUBLISH's reply).
    @discardableResult
    @inlinable
    public func forEachShardReceiver(ofChannel channel: ByteBuffer, _ body: (Subscriber) throws -> Void) rethrows -> Int {
        guard let subscribers = subscribers(of: channel, kind: .shardChannel) else { return 0 }
        for subscriber in subscribers { try body(subscriber) }
        return subscribers.count
    }

    @usableFromInline
    func channelSubscribers(_ channel: ByteBuffer) -> Set<Subscriber>? { channels[channel] }

    @usableFromInline
    var hasPatterns: Bool { !patterns.isEmpty }

    @usableFromInline
    func forEachPattern(_ body: (ByteBuffer, Set<Subscriber>) throws -> Void) rethrows {
        for (pattern, subscribers) in patterns { try body(pattern, subscribers) }
    }
}

extension SubscriptionRegistry: Sendable where Subscriber: Sendable {}
