import Foundation
import LookoutCore
import LookoutTestSupport
import Prometheus
import Testing

@testable import Store

/// The store over long stretches on an injected clock: a month of 1,000 busy channels through the
/// real writer, and budgets small enough to force eviction.
@Suite struct StoreBudgetTests {
    static let day: Int64 = 86400

    /// When a simulated run writes: every 8 h for the first 30 days, every hour in the day
    /// before the last hour, every 5 minutes in the last hour (each round in a 5 minute bucket of
    /// its own). Each round writes one 1 s bucket for every channel.
    static func rounds(end: Int64) -> [Int64] {
        let start = end - 31 * day
        return Array(stride(from: start, to: end - 25 * 3600, by: 8 * 3600)) + Array(stride(from: end - 25 * 3600, to: end - 3600, by: 3600))
            + Array(stride(from: end - 3600, to: end, by: 300))
    }

    static func messages(channel: Int, at time: Int64) -> UInt64 { UInt64(1 + channel % 7 + Int(time / 120 % 5)) }

    @Test func aSimulatedMonthOfAThousandBusyChannelsKeepsItsTiersAndItsBudget() throws {
        let database = TemporaryDatabase()
        let end = t0 + 31 * Self.day
        let budget = 64 << 20
        let (writer, registry) = try database.writer {
            $0.maxSize = budget
            $0.rollupMinutesPerFlush = 24 * 60  // the clock jumps hours between flushes
            $0.wallClock = { Double(t0) }
        }
        let channels = (0..<1000).map { "orders.\($0)" }
        var latency = LatencyDigest()
        latency.record(0.002)
        var largest = 0
        let rounds = Self.rounds(end: end)
        for time in rounds {
            writer.record(buckets: channels.enumerated().map { index, name in
                ChannelStatistics.Bucket(channel: name, start: time, messages: Self.messages(channel: index, at: time), bytes: 100,
                                         unrouted: 0, subscribers: 2, latency: latency)
            }, consumers: [])
            #expect(writer.flush(now: Double(time + 1)))
            largest = max(largest, StoreWriter.fileSize(database.path))
        }
        #expect(writer.flush(now: Double(end + 30)))  // the last buckets roll up
        #expect(largest <= budget, "database and log reached \(largest) B")
        #expect(!exposition(registry).contains("lookout_store_evicted_rows_total{"), "nothing evicted within the budget")

        // Each tier holds what its retention says: nothing older, and (the rounds allowing) all of it.
        let connection = try SQLiteConnection(path: database.path, mode: .readOnly)
        func span(_ resolution: Int64) throws -> (Int64, Int64, Int64) {
            let row = try connection.query("SELECT MIN(bucket), MAX(bucket), COUNT(*) FROM samples WHERE resolution = ?", [.integer(resolution)]) {
                ($0.integer(0) ?? 0, $0.integer(1) ?? 0, $0.integer(2) ?? 0)
            }
            return row[0]
        }
        let now = end + 30
        let (oldest1, newest1, rows1) = try span(1)
        #expect(oldest1 >= now - 3600 - 10 && oldest1 <= now - 3600 + 300, "1 s tier: the last hour")
        #expect(newest1 == rounds.last! && rows1 == Int64(rounds.filter { $0 >= oldest1 }.count) * 1000)
        let (oldest10, _, rows10) = try span(10)
        #expect(oldest10 >= now - Self.day - 300 && oldest10 <= now - Self.day + 3600, "10 s tier: the last day")
        #expect(rows10 == Int64(rounds.filter { $0 >= oldest10 }.count) * 1000)
        let (oldest300, _, rows300) = try span(300)
        #expect(oldest300 >= now - 30 * Self.day - 300 && oldest300 <= now - 30 * Self.day + 8 * 3600, "5 min tier: 30 days")
        #expect(rows300 == Int64(rounds.filter { $0 >= oldest300 }.count) * 1000, "one 5 min row per round and channel")

        // History returns the right sums at each step, whichever tiers answer.
        let reader = try StoreReader(path: database.path)
        for (channel, since, step) in [(7, end - 29 * Self.day, Self.day), (7, end - 29 * Self.day, Int64(3600)), (123, end - Self.day, Int64(300)),
                                       (999, end - 3600, Int64(10)), (0, end - 3600, Int64(1))] {
            let points = try reader.history(channel: "orders.\(channel)", since: Double(since), until: Double(end), step: step)
            var expected: [Int64: UInt64] = [:]
            for time in rounds where time >= since / step * step { expected[time / step * step, default: 0] += Self.messages(channel: channel, at: time) }
            let got = Dictionary(points.filter { $0.messages > 0 }.map { ($0.start, $0.messages) }, uniquingKeysWith: +)
            #expect(got == expected, "channel \(channel), step \(step)")
            #expect(points.first?.start == since / step * step && points.count == Int((end - since / step * step + step - 1) / step))
        }
        let summary = try #require(try reader.channels(since: Double(end - 30 * Self.day), until: Double(end)).first { $0.channel == "orders.7" })
        #expect(summary.messages == rounds.filter { $0 >= oldest300 }.reduce(0) { $0 + Self.messages(channel: 7, at: $1) })
    }
}
