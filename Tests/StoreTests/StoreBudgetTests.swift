import Foundation
import LookoutCore
import LookoutTestSupport
import Prometheus
import Testing

@testable import Store

/// The store over long stretches on an injected clock: a month of 1,000 busy channels through the
/// real writer, and budgets small enough to force eviction. One at a time: each keeps a core busy
/// for seconds, and the machine running the tests may have two.
@Suite(.serialized) struct StoreBudgetTests {
    static let day: Int64 = 86400

    /// When a simulated run writes: every 12 h for the first 30 days, every 2 hours in the day
    /// before the last hour, every 10 minutes in the last hour (each round in a 5 minute bucket of
    /// its own). Each round writes one 1 s bucket for every channel.
    static func rounds(end: Int64) -> [Int64] {
        let start = end - 31 * day
        return Array(stride(from: start, to: end - 25 * 3600, by: 12 * 3600)) + Array(stride(from: end - 25 * 3600, to: end - 3600, by: 7200))
            + Array(stride(from: end - 3600, to: end, by: 600))
    }

    static func messages(channel: Int, at time: Int64) -> UInt64 { UInt64(1 + channel % 7 + Int(time / 120 % 5)) }

    @Test func aSimulatedMonthOfAThousandBusyChannelsKeepsItsTiersAndItsBudget() async throws {
        let database = TemporaryDatabase()
        let end = t0 + 31 * Self.day
        let budget = 64 << 20
        let (writer, registry) = try database.writer {
            $0.maxSize = budget
            $0.rollupMinutesPerFlush = 24 * 60  // the clock jumps hours between flushes
            $0.wallClock = { Double(t0) }
        }
        let channels = (0..<1000).map { "orders.\($0)" }
        let latency = { () -> LatencyDigest in
            var digest = LatencyDigest()
            digest.record(0.002)
            return digest
        }()
        let rounds = Self.rounds(end: end)
        let path = database.path
        // A long blocking loop: on its own thread, not the concurrency pool other suites share.
        let (failedFlushes, largest) = try await onOwnThread { () -> (Int, Int) in
            var failed = 0
            var largest = 0
            for time in rounds {
                writer.record(buckets: channels.enumerated().map { index, name in
                    ChannelStatistics.Bucket(channel: name, start: time, messages: Self.messages(channel: index, at: time), bytes: 100,
                                             unrouted: 0, subscribers: 2, latency: latency)
                }, consumers: [])
                if !writer.flush(now: Double(time + 1)) { failed += 1 }
                largest = max(largest, StoreWriter.fileSize(path))
            }
            if !writer.flush(now: Double(end + 30)) { failed += 1 }  // the last buckets roll up
            return (failed, largest)
        }
        #expect(failedFlushes == 0)
        #expect(largest <= budget, "database and log reached \(largest) B")
        let evicted = exposition(registry).split(separator: "\n").filter { $0.hasPrefix("lookout_store_evicted_rows_total{") }
        #expect(evicted.count == 9 && evicted.allSatisfy { $0.hasSuffix(" 0") }, "nothing evicted within the budget: \(evicted)")

        // Each tier holds what its retention says: nothing older, and (the rounds allowing) all of it.
        let connection = try SQLiteConnection(path: database.path, mode: .readOnly)
        func span(_ resolution: Int64) throws -> (Int64, Int64, Int64) {
            let table = resolution == 1 ? "recent_samples" : "samples WHERE resolution = \(resolution)"
            let row = try connection.query("SELECT MIN(bucket), MAX(bucket), COUNT(*) FROM \(table)") {
                ($0.integer(0) ?? 0, $0.integer(1) ?? 0, $0.integer(2) ?? 0)
            }
            return row[0]
        }
        let now = end + 30
        let (oldest1, newest1, rows1) = try span(1)
        #expect(oldest1 >= now - 3600 - 10 && oldest1 <= now - 3600 + 600, "1 s tier: the last hour")
        #expect(newest1 == rounds.last! && rows1 == Int64(rounds.filter { $0 >= oldest1 }.count) * 1000)
        let (oldest10, _, rows10) = try span(10)
        #expect(oldest10 >= now - Self.day - 300 && oldest10 <= now - Self.day + 7200, "10 s tier: the last day")
        #expect(rows10 == Int64(rounds.filter { $0 >= oldest10 }.count) * 1000)
        let (oldest300, _, rows300) = try span(300)
        #expect(oldest300 >= now - 30 * Self.day - 300 && oldest300 <= now - 30 * Self.day + 12 * 3600, "5 min tier: 30 days")
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

    /// Two hours of 10 channels, one 1 s bucket each per second, in a 1 MiB budget: the finest
    /// tier's oldest rows go first and the coarser tiers keep everything. Reopened with 600 KiB,
    /// the file shrinks to it: the rest of the finest tier goes, then the 10 s tier's oldest.
    /// Reopened with 400 KiB: state changes older than a day go too, and the last day of the
    /// 5 min tier and of state changes stays even though the budget cannot be met.
    @Test func aTinyBudgetIsKeptByEvictingTheFinestTiersFirst() async throws {
        let database = TemporaryDatabase()
        let start = t0
        let old = HeartbeatTracker.ConsumerTransition(consumer: "w1", group: "g",
                                                      transition: .init(from: .up, to: .down, reason: String(repeating: "old ", count: 150),
                                                                        at: Double(start - 2 * Self.day)))
        let recent = HeartbeatTracker.ConsumerTransition(consumer: "w1", group: "g",
                                                         transition: .init(from: .down, to: .up, reason: "recent", at: Double(start - 3600)))
        let channels = (0..<10).map { "events.\($0)" }
        do {
            let (writer, registry) = try database.writer {
                $0.maxSize = 1 << 20
                $0.flushInterval = .seconds(10)
                $0.wallClock = { Double(start) }
            }
            for _ in 0..<200 { writer.record(old) }
            writer.record(recent)
            let path = database.path
            let (failedFlushes, largest) = try await onOwnThread { () -> (Int, Int) in
                var failed = 0
                var largest = 0
                for flush in 0..<720 {
                    let first = start + Int64(flush) * 10
                    writer.record(buckets: (0..<10).flatMap { second in
                        channels.map { bucket($0, at: first + Int64(second), messages: 3, latencies: [0.001]) }
                    }, consumers: [])
                    if !writer.flush(now: Double(first + 10)) { failed += 1 }
                    largest = max(largest, StoreWriter.fileSize(path))
                }
                return (failed, largest)
            }
            #expect(failedFlushes == 0)
            #expect(largest <= 1 << 20, "database and log reached \(largest) B of 1 MiB")
            let metrics = exposition(registry)
            #expect(counter(metrics, "lookout_store_evicted_rows_total{table=\"samples_1s\"}") > 0)
            #expect(counter(metrics, "lookout_store_evicted_rows_total{table=\"samples_10s\"}") == 0, "coarser tiers wait for the finest")
            #expect(metrics.contains("lookout_store_budget_bytes 1048576"))
        }
        let connection = try SQLiteConnection(path: database.path, mode: .readOnly)
        func oldest(_ resolution: Int64) throws -> Int64? {
            try connection.integer(resolution == 1 ? "SELECT MIN(bucket) FROM recent_samples" : "SELECT MIN(bucket) FROM samples WHERE resolution = \(resolution)")
        }
        #expect(try oldest(10) == start && oldest(300) == start, "the 10 s and 5 min tiers keep the whole two hours")
        #expect(try #require(try oldest(1)) > start + 600, "the 1 s tier lost its oldest")
        let end = start + 7200
        // The totals are whole: what the finest tier lost, the coarser tiers hold.
        let reader = try StoreReader(path: database.path)
        let total = try reader.history(channel: "events.4", since: Double(start), until: Double(end), step: 7200).reduce(0) { $0 + $1.messages }
        #expect(total == 7200 * 3)

        do {
            // Budgets with room for the schema's fixed pages (each table and index takes one
            // even when empty: 8 KiB more since channel_shapes, schema 7).
            let (writer, registry) = try database.writer {
                $0.maxSize = 608 << 10
                $0.flushInterval = .seconds(10)
                $0.wallClock = { Double(end) }
            }
            #expect(writer.flush(now: Double(end + 10)))
            #expect(StoreWriter.fileSize(database.path) <= 608 << 10, "the file shrank to the new budget: \(StoreWriter.fileSize(database.path)) B")
            let metrics = exposition(registry)
            #expect(counter(metrics, "lookout_store_evicted_rows_total{table=\"samples_10s\"}") > 0)
            #expect(counter(metrics, "lookout_store_evicted_rows_total{table=\"consumer_transitions\"}") == 0, "not needed yet")
        }
        let (writer, registry) = try database.writer {
            $0.maxSize = 408 << 10
            $0.flushInterval = .seconds(10)
            $0.wallClock = { Double(end) }
        }
        #expect(writer.flush(now: Double(end + 20)))
        let metrics = exposition(registry)
        #expect(counter(metrics, "lookout_store_evicted_rows_total{table=\"consumer_transitions\"}") == 200)
        #expect(counter(metrics, "lookout_store_evicted_rows_total{table=\"samples_5m\"}") == 0, "the last day is never evicted")
        #expect(try oldest(300) == start)
        #expect(try reader.transitions(since: Double(start - 3 * Self.day), until: Double(end)).map(\.reason) == ["recent"])
        #expect(try reader.history(channel: "events.4", since: Double(start), until: Double(end), step: 7200).reduce(0) { $0 + $1.messages }
                    == 7200 * 3, "the 5 min tier still holds every message")
    }

    private func counter(_ exposition: String, _ series: String) -> Int {
        exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            .map { Int($0) } ?? 0
    }
}
