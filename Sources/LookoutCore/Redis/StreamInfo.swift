/// A Redis Streams entry id, `milliseconds-sequence`.
public struct StreamEntryID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: UInt64
    public var sequence: UInt64

    public init(milliseconds: UInt64, sequence: UInt64 = 0) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `1700000000000-0` (or `1700000000000`, sequence 0); nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let milliseconds = UInt64(parts[0]) else { return nil }
        let sequence = parts.count == 2 ? UInt64(parts[1]) : 0
        guard let sequence else { return nil }
        self.init(milliseconds: milliseconds, sequence: sequence)
    }

    public var description: String { "\(milliseconds)-\(sequence)" }

    public static func < (lhs: StreamEntryID, rhs: StreamEntryID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }

    /// When the entry was added (seconds since the epoch), for ids Redis made from its clock
    /// (`*`): between the years 2000 and 2200. Ids a producer chose (`1-1`, an order number)
    /// say nothing of time: nil, so that no age is made up from them.
    public var time: Double? {
        guard (946_684_800_000...7_258_118_400_000).contains(milliseconds) else { return nil }
        return Double(milliseconds) / 1000
    }
}

extension RedisReply {
    /// A RESP2 flat `key value key value …` array (what XINFO answers) as a dictionary.
    public var fields: [String: RedisReply]? {
        guard case .array(let elements) = self, elements.count % 2 == 0 else { return nil }
        var fields: [String: RedisReply] = [:]
        for index in stride(from: 0, to: elements.count, by: 2) {
            guard let key = elements[index].text else { return nil }
            fields[key] = elements[index + 1]
        }
        return fields
    }

    var integer: Int? {
        if case .integer(let value) = self { return Int(value) }
        return text.flatMap { Int($0) }
    }

    var entryID: StreamEntryID? { text.flatMap(StreamEntryID.init) }
}

/// What `XINFO STREAM key` says of a stream (Redis 7: `entries-added` and
/// `recorded-first-entry-id` are missing before it).
public struct StreamSummary: Sendable, Hashable {
    public var length: Int
    public var lastGeneratedID: StreamEntryID
    /// Every entry ever added, trimmed and deleted ones included (Redis 7).
    public var entriesAdded: Int?
    /// The first entry still in the stream, nil when it is empty.
    public var firstEntryID: StreamEntryID?

    public init(length: Int, lastGeneratedID: StreamEntryID, entriesAdded: Int?, firstEntryID: StreamEntryID?) {
        self.length = length
        self.lastGeneratedID = lastGeneratedID
        self.entriesAdded = entriesAdded
        self.firstEntryID = firstEntryID
    }

    public static func parse(_ reply: RedisReply) -> StreamSummary? {
        guard let fields = reply.fields, let length = fields["length"]?.integer,
              let last = fields["last-generated-id"]?.entryID else { return nil }
        var first: StreamEntryID?
        if case .array(let entry)? = fields["first-entry"], let id = entry.first?.entryID { first = id }
        return StreamSummary(length: length, lastGeneratedID: last, entriesAdded: fields["entries-added"]?.integer, firstEntryID: first)
    }
}

/// One consumer group of a stream, from `XINFO GROUPS key`.
public struct StreamGroupSummary: Sendable, Hashable {
    public var name: String
    public var consumers: Int
    public var pending: Int
    public var lastDeliveredID: StreamEntryID
    /// Entries the group has read (Redis 7), nil when Redis does not know.
    public var entriesRead: Int?
    /// Redis's own lag (Redis 7), nil when it cannot compute it.
    public var lag: Int?

    public init(name: String, consumers: Int, pending: Int, lastDeliveredID: StreamEntryID, entriesRead: Int?, lag: Int?) {
        self.name = name
        self.consumers = consumers
        self.pending = pending
        self.lastDeliveredID = lastDeliveredID
        self.entriesRead = entriesRead
        self.lag = lag
    }

    /// Every group in the reply; nil when the reply is not XINFO GROUPS's.
    public static func parseAll(_ reply: RedisReply) -> [StreamGroupSummary]? {
        guard case .array(let groups) = reply else { return nil }
        var parsed: [StreamGroupSummary] = []
        for group in groups {
            guard let fields = group.fields, let name = fields["name"]?.text, let consumers = fields["consumers"]?.integer,
                  let pending = fields["pending"]?.integer, let last = fields["last-delivered-id"]?.entryID else { return nil }
            parsed.append(StreamGroupSummary(name: name, consumers: consumers, pending: pending, lastDeliveredID: last,
                                             entriesRead: fields["entries-read"]?.integer, lag: fields["lag"]?.integer))
        }
        return parsed
    }
}

/// One consumer of a group, from `XINFO CONSUMERS key group`.
public struct StreamConsumerSummary: Sendable, Hashable {
    public var name: String
    public var pending: Int
    /// Milliseconds since its last read attempt (`idle`).
    public var idleMilliseconds: Int
    /// Milliseconds since it last read an entry (Redis 7.2's `inactive`; -1 never), nil before 7.2.
    public var inactiveMilliseconds: Int?

    public init(name: String, pending: Int, idleMilliseconds: Int, inactiveMilliseconds: Int? = nil) {
        self.name = name
        self.pending = pending
        self.idleMilliseconds = idleMilliseconds
        self.inactiveMilliseconds = inactiveMilliseconds
    }

    /// Dead: it holds pending entries (delivered, never acknowledged) and has not tried to read
    /// for `after`. An idle consumer with nothing pending is only idle.
    public func isDead(after: Duration) -> Bool {
        pending > 0 && Duration.milliseconds(idleMilliseconds) >= after
    }

    public static func parseAll(_ reply: RedisReply) -> [StreamConsumerSummary]? {
        guard case .array(let consumers) = reply else { return nil }
        var parsed: [StreamConsumerSummary] = []
        for consumer in consumers {
            guard let fields = consumer.fields, let name = fields["name"]?.text, let pending = fields["pending"]?.integer,
                  let idle = fields["idle"]?.integer else { return nil }
            parsed.append(StreamConsumerSummary(name: name, pending: pending, idleMilliseconds: idle, inactiveMilliseconds: fields["inactive"]?.integer))
        }
        return parsed
    }
}

/// Pending entries of a group: `XPENDING key group` (the summary: the smallest id) and a page
/// of `XPENDING key group - + N` (the oldest N entries with their delivery counts).
public struct StreamPending: Sendable, Hashable {
    public var smallestID: StreamEntryID?
    /// Delivery counts of the oldest pending entries (at most one page of them).
    public var deliveries: [Int]

    public init(smallestID: StreamEntryID?, deliveries: [Int]) {
        self.smallestID = smallestID
        self.deliveries = deliveries
    }

    /// From the summary reply and the extended page's reply; nil when either is not theirs.
    public static func parse(summary: RedisReply, page: RedisReply) -> StreamPending? {
        guard case .array(let head) = summary, head.count >= 2, case .array(let entries) = page else { return nil }
        var deliveries: [Int] = []
        for entry in entries {
            guard case .array(let fields) = entry, fields.count == 4, let count = fields[3].integer else { return nil }
            deliveries.append(count)
        }
        return StreamPending(smallestID: head[1].entryID, deliveries: deliveries)
    }
}

/// What Lookout says of one consumer group, from what Redis answered (pure: times passed in).
public struct StreamGroupFigures: Sendable, Hashable {
    /// Entries in the stream not yet delivered to the group; nil when neither Redis nor the ids
    /// can tell (exported as unknown, never as 0).
    public var lag: Int?
    /// Seconds since the oldest entry not yet delivered was added (0 when none waits); nil when
    /// its id is not a time.
    public var oldestUnreadAge: Double?
    /// Seconds since the oldest entry delivered and not acknowledged was added (0 when none).
    public var oldestPendingAge: Double?
    /// Pending entries (among the oldest page) delivered at least the poison threshold times.
    public var poison: Int
    /// Entries removed from the stream (trimmed or deleted) before the group read them, as far
    /// as they can be counted now; nil when Redis does not say how many the group has read.
    public var removedUnread: Int?

    /// - Parameters:
    ///   - firstUnread: the first entry after the group's last delivered id (`XRANGE key (id + COUNT 1`).
    ///   - poisonDeliveries: deliveries from which a pending entry is poison.
    public static func judge(stream: StreamSummary, group: StreamGroupSummary, pending: StreamPending?,
                             firstUnread: StreamEntryID?, poisonDeliveries: Int, now: Double) -> StreamGroupFigures {
        let delivered = group.lastDeliveredID
        let caughtUp = stream.length == 0 || delivered >= stream.lastGeneratedID
        // Read up to before the first entry left: every entry in the stream is unread, whatever
        // Redis's lag says (Redis 7.0 counts trimmed entries in it too).
        let behindTheFirst = stream.firstEntryID.map { delivered < $0 } ?? false
        let lag: Int? = caughtUp ? 0 : behindTheFirst ? stream.length : group.lag

        var removed: Int?
        if behindTheFirst || (stream.length == 0 && delivered < stream.lastGeneratedID) {
            if let added = stream.entriesAdded, let read = group.entriesRead { removed = max(0, added - read - stream.length) }
        } else {
            removed = 0
        }

        let unreadAge: Double? = lag == 0 ? 0 : firstUnread?.time.map { max(0, now - $0) }
        let pendingAge: Double? = group.pending == 0 ? 0 : pending?.smallestID?.time.map { max(0, now - $0) }
        let poison = pending?.deliveries.filter { $0 >= poisonDeliveries }.count ?? 0
        return StreamGroupFigures(lag: lag, oldestUnreadAge: unreadAge, oldestPendingAge: pendingAge, poison: poison, removedUnread: removed)
    }
}

/// Turns the number of entries a group lost to trimming, as seen at each poll, into a count
/// that only grows: what appears between two polls is added; when the group reads past the
/// hole (Redis then counts the lost entries as read) the figure falls back without subtracting.
public struct RemovedUnreadCount: Sendable, Hashable {
    public private(set) var total = 0
    private var lastSeen = 0

    public init() {}

    /// Takes one poll's figure (nil: not known this time); returns what it adds to the total.
    @discardableResult
    public mutating func observe(_ removed: Int?) -> Int {
        guard let removed else { return 0 }
        defer { lastSeen = removed }
        let added = max(0, removed - lastSeen)
        total += added
        return added
    }
}

/// One consumer group as the streams watch last saw it: what `/api/v1/streams` and
/// `lookout streams` show.
public struct StreamGroupStatus: Sendable, Hashable {
    public var source: String
    public var stream: String
    public var group: String
    public var length: Int
    public var consumers: Int
    public var pending: Int
    /// nil: not known (see ``StreamGroupFigures/lag``).
    public var lag: Int?
    public var oldestUnreadAge: Double?
    public var oldestPendingAge: Double?
    public var poison: Int
    /// Entries removed before the group read them, since Lookout began watching.
    public var lostUnread: Int
    /// Of ``lostUnread``, the entries found lost by the poll that made this status.
    public var lostUnreadInPoll: Int
    /// Consumers holding pending entries and idle past `streams.dead_after`.
    public var deadConsumers: [String]

    public init(source: String, stream: String, group: String, length: Int, consumers: Int, pending: Int, lag: Int?,
                oldestUnreadAge: Double?, oldestPendingAge: Double?, poison: Int, lostUnread: Int, lostUnreadInPoll: Int = 0,
                deadConsumers: [String]) {
        self.lostUnreadInPoll = lostUnreadInPoll
        self.source = source
        self.stream = stream
        self.group = group
        self.length = length
        self.consumers = consumers
        self.pending = pending
        self.lag = lag
        self.oldestUnreadAge = oldestUnreadAge
        self.oldestPendingAge = oldestPendingAge
        self.poison = poison
        self.lostUnread = lostUnread
        self.deadConsumers = deadConsumers
    }
}

/// Where each poll of the streams watch goes to be kept (the store).
public protocol StreamGroupSink: Sendable {
    /// Every group one poll read, at `at` (seconds since the epoch); polls come every `interval` seconds.
    func record(streamGroups: [StreamGroupStatus], at: Double, interval: Double)
}
