import Testing

@testable import LookoutCore

/// XINFO and XPENDING replies as Redis 7.0 gives them (RESP2), and what is judged from them.
@Suite struct StreamInfoTests {
    private func flat(_ pairs: [(String, RedisReply)]) -> RedisReply {
        .array(pairs.flatMap { [RedisReply.bytes(Array($0.0.utf8)), $0.1] })
    }

    private func text(_ s: String) -> RedisReply { .bytes(Array(s.utf8)) }

    private let t0: UInt64 = 1_796_617_522_000

    @Test func entryIDsParseCompareAndSayWhenTheyAreTimes() throws {
        let id = try #require(StreamEntryID("1796617522069-3"))
        #expect(id.milliseconds == 1_796_617_522_069 && id.sequence == 3 && id.description == "1796617522069-3")
        #expect(StreamEntryID("5") == StreamEntryID(milliseconds: 5))
        #expect(StreamEntryID("1-2")! < StreamEntryID("1-10")!)
        #expect(StreamEntryID("2-0")! > StreamEntryID("1-99")!)
        for bad in ["", "-", "a-1", "1-", "1-2-3", "-1"] { #expect(StreamEntryID(bad) == nil, "\(bad)") }
        #expect(id.time == 1_796_617_522.069)
        #expect(StreamEntryID("42-0")?.time == nil, "an id the producer chose is not a time")
    }

    @Test func xinfoStreamGroupsAndConsumersParse() throws {
        let stream = try #require(StreamSummary.parse(flat([
            ("length", .integer(100)), ("radix-tree-keys", .integer(1)), ("last-generated-id", text("\(t0 + 69)-3")),
            ("max-deleted-entry-id", text("0-0")), ("entries-added", .integer(1000)),
            ("first-entry", .array([text("\(t0 + 66)-23"), .array([text("n"), text("901")])])), ("last-entry", .null),
        ])))
        #expect(stream == StreamSummary(length: 100, lastGeneratedID: StreamEntryID(milliseconds: t0 + 69, sequence: 3), entriesAdded: 1000,
                                        firstEntryID: StreamEntryID(milliseconds: t0 + 66, sequence: 23)))
        let empty = try #require(StreamSummary.parse(flat([("length", .integer(0)), ("last-generated-id", text("0-0")), ("first-entry", .null)])))
        #expect(empty.firstEntryID == nil && empty.entriesAdded == nil, "Redis 6 has no entries-added")
        #expect(StreamSummary.parse(.error("ERR no such key")) == nil)

        let groups = try #require(StreamGroupSummary.parseAll(.array([
            flat([("name", text("slow")), ("consumers", .integer(1)), ("pending", .integer(100)),
                  ("last-delivered-id", text("\(t0 + 44)-39")), ("entries-read", .integer(100)), ("lag", .integer(900))]),
            flat([("name", text("mid")), ("consumers", .integer(0)), ("pending", .integer(0)),
                  ("last-delivered-id", text("\(t0 + 66)-32")), ("entries-read", .null), ("lag", .null)]),
        ])))
        #expect(groups.map(\.name) == ["slow", "mid"])
        #expect(groups[0].entriesRead == 100 && groups[0].lag == 900)
        #expect(groups[1].entriesRead == nil && groups[1].lag == nil, "nil stays unknown, never 0")
        #expect(StreamGroupSummary.parseAll(.array([flat([("name", text("x"))])])) == nil)

        let consumers = try #require(StreamConsumerSummary.parseAll(.array([
            flat([("name", text("s1")), ("pending", .integer(10)), ("idle", .integer(3685))]),
        ])))
        #expect(consumers == [StreamConsumerSummary(name: "s1", pending: 10, idleMilliseconds: 3685)])

        let pending = try #require(StreamPending.parse(
            summary: .array([.integer(2), text("\(t0 + 41)-0"), text("\(t0 + 44)-39"), .array([])]),
            page: .array([.array([text("\(t0 + 41)-0"), text("s1"), .integer(3685), .integer(6)]),
                          .array([text("\(t0 + 41)-1"), text("s1"), .integer(3685), .integer(1)])])))
        #expect(pending == StreamPending(smallestID: StreamEntryID(milliseconds: t0 + 41), deliveries: [6, 1]))
        #expect(StreamPending.parse(summary: .array([.integer(0), .null, .null, .null]), page: .array([]))?.smallestID == nil)
    }

    private func stream(length: Int, last: UInt64, first: UInt64?, added: Int? = 1000) -> StreamSummary {
        StreamSummary(length: length, lastGeneratedID: StreamEntryID(milliseconds: t0 + last), entriesAdded: added,
                      firstEntryID: first.map { StreamEntryID(milliseconds: t0 + $0) })
    }

    private func group(delivered: UInt64, pending: Int = 0, read: Int?, lag: Int?) -> StreamGroupSummary {
        StreamGroupSummary(name: "g", consumers: 1, pending: pending, lastDeliveredID: StreamEntryID(milliseconds: t0 + delivered),
                           entriesRead: read, lag: lag)
    }

    @Test func aGroupThatReadEverythingHasNoLagAndNoAge() {
        let figures = StreamGroupFigures.judge(stream: stream(length: 1000, last: 999, first: 0), group: group(delivered: 999, read: 1000, lag: 0),
                                               pending: nil, firstUnread: nil, poisonDeliveries: 5, now: 1_796_617_600)
        #expect(figures == StreamGroupFigures(lag: 0, oldestUnreadAge: 0, oldestPendingAge: 0, poison: 0, removedUnread: 0))
    }

    @Test func aSlowGroupHasLagAndTheAgeOfItsFirstUnreadEntry() {
        let now = Double(t0) / 1000 + 30
        let figures = StreamGroupFigures.judge(
            stream: stream(length: 1000, last: 999, first: 0), group: group(delivered: 99, pending: 10, read: 100, lag: 900),
            pending: StreamPending(smallestID: StreamEntryID(milliseconds: t0 + 90), deliveries: [6, 5, 4, 1]),
            firstUnread: StreamEntryID(milliseconds: t0 + 100), poisonDeliveries: 5, now: now)
        #expect(figures.lag == 900 && figures.removedUnread == 0)
        #expect(abs(figures.oldestUnreadAge! - 29.9) < 1e-6)
        #expect(abs(figures.oldestPendingAge! - 29.91) < 1e-6)
        #expect(figures.poison == 2, "delivered 5 times or more")
    }

    @Test func entriesTrimmedBeforeTheGroupReadThemAreCountedAndNotLag() {
        // Redis 7.0 after XTRIM MAXLEN 100 of 1,000 with 100 read: lag 900 (trimmed counted).
        let figures = StreamGroupFigures.judge(stream: stream(length: 100, last: 999, first: 900), group: group(delivered: 99, read: 100, lag: 900),
                                               pending: nil, firstUnread: StreamEntryID(milliseconds: t0 + 900), poisonDeliveries: 5,
                                               now: Double(t0) / 1000 + 1)
        #expect(figures.lag == 100, "only what is still there can be read")
        #expect(figures.removedUnread == 800)
        let created = StreamGroupFigures.judge(stream: stream(length: 100, last: 999, first: 900), group: group(delivered: 0, read: nil, lag: 100),
                                               pending: nil, firstUnread: nil, poisonDeliveries: 5, now: 0)
        #expect(created.lag == 100 && created.removedUnread == nil, "a group made at 0 after the trim lost nothing it can be told of")
    }

    @Test func lagRedisCannotComputeIsUnknownAndIdsThatAreNotTimesHaveNoAge() {
        let figures = StreamGroupFigures.judge(stream: stream(length: 100, last: 999, first: 900), group: group(delivered: 910, read: nil, lag: nil),
                                               pending: nil, firstUnread: StreamEntryID(milliseconds: 5), poisonDeliveries: 5, now: 0)
        #expect(figures.lag == nil && figures.removedUnread == 0)
        #expect(figures.oldestUnreadAge == nil)
    }

    @Test func removedUnreadOnlyGrows() {
        var count = RemovedUnreadCount()
        #expect(count.observe(0) == 0)
        #expect(count.observe(800) == 800)
        #expect(count.observe(800) == 0, "the same hole seen again")
        #expect(count.observe(nil) == 0)
        #expect(count.observe(0) == 0, "the group read past it")
        #expect(count.observe(50) == 50)
        #expect(count.total == 850)
    }
}
