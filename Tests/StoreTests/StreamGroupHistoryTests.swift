import Foundation
import LookoutCore
import LookoutTestSupport
import Testing

@testable import Store

@Suite struct StreamGroupHistoryTests {
    let tiers = try! StoreTiers([.init(resolution: 1, retention: 120), .init(resolution: 10, retention: 600), .init(resolution: 60, retention: 900)])

    func status(lag: Int?, pending: Int = 10, lostNow: Int = 0, dead: [String] = [], group: String = "slow") -> StreamGroupStatus {
        StreamGroupStatus(source: "redis://127.0.0.1:6379", stream: "orders", group: group, length: 1_000, consumers: 2, pending: pending, lag: lag,
                          oldestUnreadAge: lag.map { Double($0) / 10 }, oldestPendingAge: 4, poison: 1, lostUnread: 0, lostUnreadInPoll: lostNow,
                          deadConsumers: dead)
    }

    /// Twelve polls five seconds apart: 100, 200, … 1,200 entries behind, the lag unknown at
    /// the third, 3 entries lost at the fifth and 4 at the eleventh.
    func recordMinuteOfPolls(_ writer: StoreWriter) {
        for poll in 0..<12 {
            let lag = poll == 2 ? nil : 100 * (poll + 1)
            let lost = poll == 4 ? 3 : poll == 10 ? 4 : 0
            writer.record(streamGroups: [status(lag: lag, lostNow: lost, dead: poll == 11 ? ["w1"] : []), status(lag: 0, group: "fast")],
                          at: Double(t0) + Double(poll * 5), interval: 5)
        }
    }

    @Test func pollsAreKeptInEveryTierAsCoarseAsThePollAndReadBackStepByStep() throws {
        let database = TemporaryDatabase()
        let (writer, _) = try database.writer { $0.tiers = tiers }
        recordMinuteOfPolls(writer)
        #expect(writer.flush(now: Double(t0 + 60)))
        let connection = try SQLiteConnection(path: database.path, mode: .readOnly)
        let perResolution = try connection.query("SELECT resolution, COUNT(*) FROM stream_group_samples GROUP BY resolution ORDER BY resolution") {
            [$0.integer(0) ?? 0, $0.integer(1) ?? 0]
        }
        #expect(perResolution == [[10, 12], [60, 2]], "not at 1 s (finer than the poll); two groups, six 10 s buckets and one minute each")

        let reader = try StoreReader(path: database.path)
        let tens = try reader.streamGroupHistory(stream: "orders", group: "slow", since: Double(t0), until: Double(t0 + 70), step: 10)
        #expect(tens.map(\.start) == stride(from: t0, to: t0 + 70, by: 10).map { $0 })
        #expect(tens.map(\.lag) == [200, 400, 600, 800, 1_000, 1_200, nil], "the largest of each step's polls; an unknown poll yields to a known one")
        #expect(tens.map(\.lostUnread) == [0, 0, 3, 0, 0, 4, 0], "entries lost add up")
        #expect(tens.last?.length == nil, "a step no poll was kept for has no figures (not zeros)")
        #expect(tens[5].deadConsumers == 1 && tens[4].deadConsumers == 0)
        #expect(tens[0].oldestUnreadAge == 20)
        let earlier = try reader.streamGroupHistory(stream: "orders", group: "slow", since: Double(t0 - 30), until: Double(t0 + 20), step: 10)
        #expect(earlier.map(\.lag) == [nil, nil, nil, 200, 400], "a range that begins before the first poll still reads the finest tier")

        let minute = try reader.streamGroupHistory(stream: "orders", group: "slow", since: Double(t0), until: Double(t0 + 60), step: 60)
        #expect(minute.map(\.lag) == [1_200])
        #expect(minute.map(\.lostUnread) == [7])
        #expect(try reader.streamGroupHistory(stream: "orders", group: "fast", since: Double(t0), until: Double(t0 + 60), step: 60).map(\.lag) == [0])

        #expect(throws: StoreQueryError.self) { try reader.streamGroupHistory(stream: "orders", group: "nobody", since: 0, until: 1, step: 1) }
        do {
            _ = try reader.streamGroupHistory(stream: "orders", group: "nobody", since: 0, until: 1, step: 1)
        } catch {
            #expect(error.isUnknownName)
        }
    }

    @Test func aPollFinerThanNoTierGoesToTheCoarsest() {
        #expect(StreamGroupRows.resolutions(tiers, interval: 5) == [10, 60])
        #expect(StreamGroupRows.resolutions(tiers, interval: 1) == [1, 10, 60])
        #expect(StreamGroupRows.resolutions(tiers, interval: 120) == [60])
    }

    @Test func eachTierExpiresWithItsRetentionAndAnOldRangeIsReadFromTheTierThatReachesIt() throws {
        let database = TemporaryDatabase()
        let (writer, _) = try database.writer { $0.tiers = tiers }
        recordMinuteOfPolls(writer)
        #expect(writer.flush(now: Double(t0 + 60)))
        // Twelve minutes later the 10 s rows (kept 600 s) are gone; the minute's are not (900 s).
        #expect(writer.flush(now: Double(t0 + 720)))
        let connection = try SQLiteConnection(path: database.path, mode: .readOnly)
        #expect(try connection.integer("SELECT COUNT(*) FROM stream_group_samples WHERE resolution = 10") == 0)
        #expect(try connection.integer("SELECT COUNT(*) FROM stream_group_samples WHERE resolution = 60") == 2)
        let reader = try StoreReader(path: database.path)
        let history = try reader.streamGroupHistory(stream: "orders", group: "slow", since: Double(t0), until: Double(t0 + 60), step: 10)
        #expect(history.map(\.lag) == [1_200, nil, nil, nil, nil, nil], "the minute's row stands for the step it starts")
        #expect(writer.flush(now: Double(t0 + 1_000)))
        #expect(try connection.integer("SELECT COUNT(*) FROM stream_group_samples") == 0)
    }

    @Test func theBudgetTakesTheFinestResolutionFirst() throws {
        let database = TemporaryDatabase()
        let (writer, _) = try database.writer { $0.tiers = tiers }
        recordMinuteOfPolls(writer)
        #expect(writer.flush(now: Double(t0 + 60)))
        try writer.withConnection { (connection: SQLiteConnection) throws in
            #expect(try StreamGroupRows.evictSome(connection, now: Double(t0 + 60)) == 12)
            #expect(try connection.integer("SELECT COUNT(*) FROM stream_group_samples WHERE resolution = 60") == 2)
            #expect(try StreamGroupRows.evictSome(connection, now: Double(t0 + 60)) == 0, "the coarsest keeps its last day")
            #expect(try StreamGroupRows.evictSome(connection, now: Double(t0 + 2 * 24 * 3600)) == 2)
        }
    }
}
