import Foundation
import Logging
import LookoutCore
import LookoutTestSupport
import Prometheus
import ServiceLifecycle
import Testing

@testable import Store


@Suite struct MigrationTests {
    @Test func anEmptyFileGetsTheWholeSchema() throws {
        let database = TemporaryDatabase()
        _ = try database.writer()
        let connection = try SQLiteConnection(path: database.path, mode: .readWriteCreate)
        #expect(try connection.integer("SELECT MAX(version) FROM schema_version") == Int64(Schema.currentVersion))
        let tables = try connection.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") { $0.text(0) ?? "" }
        #expect(tables == ["alert_deliveries", "alerts", "channel_names", "channel_shapes", "consumer_transitions", "consumers", "integrity_minutes", "recent_samples", "samples",
                           "schema_version", "source_gaps", "store_state", "stream_group_samples", "stream_groups", "tiers", "violations"])
        #expect(try connection.query("PRAGMA journal_mode") { $0.text(0) } == ["wal"])
        #expect(try connection.integer("PRAGMA auto_vacuum") == 2, "incremental: freed pages can leave the file")
    }

    /// A database as version 3 (the schema before tiers) left it: one-minute roll-ups up to the
    /// watermark, raw samples on both sides of it. Upgraded in place, history keeps its sums.
    @Test func aVersion3DatabaseIsUpgradedInPlaceAndKeepsItsHistory() throws {
        let database = TemporaryDatabase()
        let watermark = t0 + 600
        do {
            let old = try SQLiteConnection(path: database.path, mode: .readWriteCreate)
            try Schema.migrate(old, upTo: 3)
            for minute in 0..<10 {
                try old.run("INSERT INTO channel_minutes VALUES (?, 'orders', 60, 600, 1, 2, 60, 0.001, 0.002, 0.003, 0.004)",
                            [.integer(t0 + Int64(minute) * 60)])
            }
            // Raw samples: the last minute before the watermark (already rolled up) and two after.
            for second in -60..<120 {
                try old.run("INSERT INTO channel_samples VALUES (?, 'orders', 1, 10, 0, 3, 1, 0.001, 0.001, 0.001, 0.001)",
                            [.integer(watermark + Int64(second))])
            }
            try old.run("INSERT INTO store_state VALUES ('rolled_up_until', ?)", [.integer(watermark)])
            try old.run("INSERT INTO consumer_transitions (at, consumer, consumer_group, from_state, to_state, reason) VALUES (?, 'w1', 'g', 'up', 'down', 'x')",
                        [.real(Double(t0))])
        }
        let (writer, _) = try database.writer { $0.wallClock = { Double(watermark + 130) } }
        writer.flush(now: Double(watermark + 130))
        let reader = try StoreReader(path: database.path)
        let total = try reader.history(channel: "orders", since: Double(t0), until: Double(watermark + 120), step: 3600)
            .reduce(0) { $0 + $1.messages }
        #expect(total == 10 * 60 + 120, "each moment counted once: the minutes before the watermark, the raw samples after")
        let minutes = try reader.history(channel: "orders", since: Double(t0), until: Double(watermark), step: 60)
        #expect(minutes.map(\.messages) == Array(repeating: 60, count: 10))
        #expect(abs((minutes[0].latencyP99 ?? 0) - 0.003) < 1e-9, "latencies survive the move to microseconds")
        #expect(try reader.transitions(since: Double(t0 - 1), until: Double(t0 + 1)).count == 1)
        let connection = try SQLiteConnection(path: database.path, mode: .readOnly)
        #expect(try connection.integer("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('channel_samples', 'channel_minutes')") == 0)
        #expect(try connection.integer("PRAGMA auto_vacuum") == 2, "rewritten once so it can shrink")
    }

    @Test func aNewerSchemaIsRefused() throws {
        let database = TemporaryDatabase()
        _ = try database.writer()
        try SQLiteConnection(path: database.path, mode: .readWriteCreate).run("INSERT INTO schema_version VALUES (99, 0)")
        #expect { try database.writer() } throws: { "\($0)".contains("schema version 99, newer than this Lookout knows") }
    }
}

@Suite struct StoreWriterTests {
    @Test func recordsAreWrittenOnlyAtTheFlushAllInOneBatch() throws {
        let database = TemporaryDatabase()
        let (writer, registry) = try database.writer()
        let buckets = (0..<1000).map { bucket("channel-\($0)", at: t0, messages: 5) }
        writer.record(buckets: buckets, consumers: [consumer("w1", state: .up, since: Double(t0), lastHeartbeat: Double(t0))])
        let reader = try StoreReader(path: database.path)
        #expect(try reader.channels(since: Double(t0), until: Double(t0 + 1)).isEmpty)
        #expect(exposition(registry).contains("lookout_store_pending_records 1001"))
        #expect(writer.flush(now: Double(t0 + 1)))
        #expect(try reader.channels(since: Double(t0), until: Double(t0 + 1)).count == 1000)
        #expect(try reader.consumers().map(\.consumer) == ["w1"])
        #expect(exposition(registry).contains("lookout_store_rows_written_total 1001"))
        #expect(exposition(registry).contains("lookout_store_pending_records 0"))
    }

    @Test func unchangedConsumersAreNotRewritten() throws {
        let database = TemporaryDatabase()
        let (writer, registry) = try database.writer()
        let w1 = consumer("w1", state: .up, since: Double(t0), lastHeartbeat: Double(t0))
        writer.record(buckets: [], consumers: [w1])
        writer.flush(now: Double(t0))
        writer.record(buckets: [], consumers: [w1])
        writer.flush(now: Double(t0 + 1))
        #expect(exposition(registry).contains("lookout_store_rows_written_total 1"))
    }

    @Test func rollUpsAddCountsAndKeepTheWorstLatency() throws {
        let database = TemporaryDatabase()
        let (writer, _) = try database.writer {
            $0.tiers = try StoreTiers([.init(resolution: 1, retention: 3600), .init(resolution: 60, retention: 86400)])
        }
        // Minute 0: 60 one-second buckets; second 10 is slow. Minute 1: one bucket.
        var buckets: [ChannelStatistics.Bucket] = []
        for second in 0..<60 {
            let latency: Double = second == 10 ? 0.5 : 0.001
            buckets.append(bucket("orders", at: t0 + Int64(second), messages: 10, unrouted: second == 0 ? 3 : 0,
                                  subscribers: second == 30 ? 4 : 2, latencies: Array(repeating: latency, count: 10)))
        }
        buckets.append(bucket("orders", at: t0 + 60, messages: 1))
        writer.record(buckets: buckets, consumers: [])
        #expect(writer.flush(now: Double(t0 + 100)))
        let connection = try SQLiteConnection(path: database.path, mode: .readOnly)
        #expect(try connection.integer("SELECT COUNT(*) FROM samples WHERE resolution = 60") == 1, "minute 1 is not finished at t0 + 100")
        #expect(try connection.integer("SELECT rolled_up_until FROM tiers WHERE resolution = 60") == t0 + 60)
        // Read from the one-minute tier alone: the raw seconds are gone.
        try SQLiteConnection(path: database.path, mode: .readWriteCreate).run("DELETE FROM recent_samples WHERE bucket < ?",
                                                                             [.integer(t0 + 60)])
        let reader = try StoreReader(path: database.path)
        let minute = try #require(try reader.history(channel: "orders", since: Double(t0), until: Double(t0 + 60), step: 60).first)
        #expect(minute.messages == 600 && minute.bytes == 6000 && minute.unrouted == 3)
        #expect(minute.subscribers == 4)
        // p50: the mean of the seconds' p50s weighted by their samples: (59 × ~1 ms + 1 × ~500 ms) / 60.
        let p50 = try #require(minute.latencyP50)
        #expect(abs(p50 - (59 * 0.001 + 0.5) / 60) / ((59 * 0.001 + 0.5) / 60) < 0.06)
        // p99 and max: the slowest second's, within the digest's 5%.
        #expect(abs(try #require(minute.latencyP99) - 0.5) < 0.5 * 0.05)
        #expect(minute.latencyMax == 0.5)
    }

    @Test func aBucketWithNoTrafficIsWrittenOnlyWhenItsSubscriberCountChanges() throws {
        let database = TemporaryDatabase()
        let (writer, _) = try database.writer()
        func rows() throws -> Int64? { try writer.withConnection { try $0.integer("SELECT COUNT(*) FROM recent_samples") } }
        // First sight of each channel: written, traffic or not.
        writer.record(buckets: [bucket("idle", at: t0, messages: 0), bucket("orders", at: t0, messages: 2),
                                bucket("nobody-listens", at: t0, messages: 0, subscribers: 0)], consumers: [])
        #expect(writer.flush(now: Double(t0 + 1)))
        #expect(try rows() == 3)
        // Same counts, no traffic: nothing; traffic: written.
        writer.record(buckets: [bucket("idle", at: t0 + 1, messages: 0), bucket("orders", at: t0 + 1, messages: 0),
                                bucket("nobody-listens", at: t0 + 1, messages: 0, subscribers: 0)], consumers: [])
        writer.record(buckets: [bucket("idle", at: t0 + 2, messages: 0), bucket("orders", at: t0 + 2, messages: 0)], consumers: [])
        #expect(writer.flush(now: Double(t0 + 3)))
        #expect(try rows() == 3)
        writer.record(buckets: [bucket("idle", at: t0 + 3, messages: 0, subscribers: 2), bucket("orders", at: t0 + 3, messages: 1)],
                      consumers: [])
        #expect(writer.flush(now: Double(t0 + 4)))
        #expect(try rows() == 5)
        let reader = try StoreReader(path: database.path)
        let orders = try reader.history(channel: "orders", since: Double(t0 - 1), until: Double(t0 + 4), step: 1)
        #expect(orders.map(\.messages) == [0, 2, 0, 0, 1], "readers fill the gaps with zeros")
        let idle = try reader.history(channel: "idle", since: Double(t0 - 1), until: Double(t0 + 5), step: 1)
        #expect(idle.map(\.subscribers) == [nil, 1, 1, 1, 2, 2], "and with the subscriber count last written")
        #expect(try reader.channels(since: Double(t0), until: Double(t0 + 5)).map(\.channel).sorted() == ["idle", "nobody-listens", "orders"])
    }

    @Test func retentionKeepsEachTierBounded() async throws {
        let database = TemporaryDatabase()
        let (writer, _) = try database.writer {
            $0.tiers = try StoreTiers([.init(resolution: 1, retention: 120), .init(resolution: 10, retention: 600),
                                       .init(resolution: 60, retention: 900)])
            $0.eventRetention = 900
            $0.flushInterval = .seconds(10)
        }
        let connection = try SQLiteConnection(path: database.path, mode: .readWriteCreate)
        let path = database.path
        // 1 hour of 20 channels, one bucket per second, flushed every 10 s: a long blocking loop,
        // on its own thread rather than the concurrency pool other suites share.
        let (failedFlushes, sizes) = try await onOwnThread { () throws -> (Int, [Int: Int]) in
            var failed = 0
            var sizes: [Int: Int] = [:]
            let checkpointing = try SQLiteConnection(path: path, mode: .readWriteCreate)
            for tenSeconds in 0..<360 {
                let start = t0 + Int64(tenSeconds * 10)
                writer.record(buckets: (0..<10).flatMap { second in
                    (0..<20).map { bucket("channel-\($0)", at: start + Int64(second), messages: 100, latencies: [0.001]) }
                }, consumers: [])
                if !writer.flush(now: Double(start + 10)) { failed += 1 }
                if tenSeconds % 60 == 59 {
                    try checkpointing.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    sizes[tenSeconds / 60] = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                }
            }
            return (failed, sizes)
        }
        #expect(failedFlushes == 0)
        let now = t0 + 3600
        func oldest(_ resolution: Int) throws -> Int64 {
            let sql = resolution == 1 ? "SELECT MIN(bucket) FROM recent_samples" : "SELECT MIN(bucket) FROM samples WHERE resolution = \(resolution)"
            return try #require(try connection.integer(sql))
        }
        // Each tier's oldest bucket is within its retention, give or take a flush and one
        // bucket of the next tier (a tier's rows go once the next has them).
        #expect(try oldest(1) >= now - 120 - 30)
        #expect(try oldest(10) >= now - 600 - 80)
        #expect(try oldest(60) >= now - 900 - 60)
        #expect(try connection.integer("SELECT COUNT(*) FROM samples WHERE resolution = 60") ?? 0 <= 20 * 16)
        // The sum over the last 10 minutes is exact whichever tiers answer.
        let reader = try StoreReader(path: database.path)
        for step: Int64 in [1, 10, 60, 600] {
            let points = try reader.history(channel: "channel-3", since: Double(now - 600), until: Double(now - 10), step: step)
            #expect(points.reduce(0) { $0 + $1.messages } == 590 * 100, "step \(step)")
        }
        // Once retention is reached (after 15 minutes), freed pages are reused: the file stops growing.
        let (at30, at60) = (try #require(sizes[2]), try #require(sizes[5]))
        #expect(Double(at60) <= Double(at30) * 1.1, "size at 30 min \(at30) B, at 60 min \(at60) B")
    }

    @Test func aFullDiskIsCountedRetriedAndLosesNothing() throws {
        let database = TemporaryDatabase()
        let (writer, registry) = try database.writer()
        let pages = try writer.withConnection { try $0.integer("PRAGMA page_count") ?? 0 }
        try writer.withConnection { try $0.execute("PRAGMA max_page_count = \(pages + 2)") }
        let buckets = (0..<5000).map { bucket("a-rather-long-channel-name-\($0)", at: t0, messages: 1) }
        writer.record(buckets: buckets, consumers: [])
        #expect(!writer.flush(now: Double(t0 + 1)))
        #expect(exposition(registry).contains(#"lookout_store_errors_total{operation="write"} 1"#))
        #expect(exposition(registry).contains("lookout_store_pending_records 5000"))
        writer.record(buckets: [bucket("orders", at: t0 + 1, messages: 1)], consumers: [])
        #expect(!writer.flush(now: Double(t0 + 2)))
        // Space again: everything queued is written by the next flush.
        try writer.withConnection { try $0.execute("PRAGMA max_page_count = 1073741823") }
        #expect(writer.flush(now: Double(t0 + 3)))
        let count = try writer.withConnection { try $0.integer("SELECT COUNT(*) FROM recent_samples") }
        #expect(count == 5001)
        #expect(exposition(registry).contains(#"lookout_store_errors_total{operation="write"} 2"#))
    }

    @Test func queuedSamplesAreBoundedAndTheExcessCounted() throws {
        let database = TemporaryDatabase()
        let (writer, registry) = try database.writer { $0.maxPendingSamples = 100 }
        writer.record(buckets: (0..<150).map { bucket("c\($0)", at: t0, messages: 1) }, consumers: [])
        #expect(exposition(registry).contains("lookout_store_dropped_samples_total 50"))
        writer.flush(now: Double(t0 + 1))
        let kept = try writer.withConnection { connection in
            try connection.query("SELECT n.name FROM recent_samples s JOIN channel_names n ON n.id = s.channel_id") { $0.text(0) ?? "" }
        }
        #expect(Set(kept) == Set((50..<150).map { "c\($0)" }), "the newest are kept")
    }

    @Test func anUnwritablePathOrACorruptFileIsAClearError() throws {
        #expect { try StoreWriter(path: "/proc/lookout/nowhere.db", registry: .init()) } throws: {
            "\($0)" == "cannot open database '/proc/lookout/nowhere.db': unable to open database file"
        }
        let database = TemporaryDatabase()
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: database.path))
        #expect { try database.writer() } throws: { "\($0)".hasSuffix("file is not a database") }
    }

    @Test func consumersAndFiringAlertsComeBack() throws {
        let database = TemporaryDatabase()
        let down = Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": "w2"], annotations: ["summary": "w2 down"],
                         startsAt: Date(timeIntervalSince1970: Double(t0)))
        var resolved = Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": "w3"], annotations: ["summary": "w3 down"],
                             startsAt: Date(timeIntervalSince1970: Double(t0)))
        var streamConsumer = consumer("orders/slow/s1", group: "orders/slow", state: .down, since: Double(t0 + 5), lastHeartbeat: Double(t0))
        (streamConsumer.detector.connectionOnly, streamConsumer.detector.kind) = (true, .stream)
        let saved = [streamConsumer, consumer("w1", state: .up, since: Double(t0), lastHeartbeat: Double(t0 + 9)),
                     consumer("w2", state: .down, since: Double(t0 + 5), lastHeartbeat: Double(t0))]
        do {
            let (writer, _) = try database.writer()
            writer.record(buckets: [], consumers: saved)
            writer.record(down)
            writer.record(resolved)
            resolved.endsAt = Date(timeIntervalSince1970: Double(t0 + 20))
            writer.record(resolved)
            writer.record(AlertDelivery(alert: down, notifier: "webhook http://127.0.0.1:1/", outcome: .success, attempts: 1,
                                        at: Date(timeIntervalSince1970: Double(t0 + 1))))
            writer.flush(now: Double(t0 + 30))
        }
        let (writer, _) = try database.writer()
        #expect(try writer.savedConsumers() == saved, "a stream consumer comes back as one")
        #expect(try writer.firingAlerts() == [down])
        let stored = try StoreReader(path: database.path).alerts(since: Double(t0), until: Double(t0 + 60))
        #expect(stored.map(\.alert) == [down, resolved])
        #expect(stored[0].deliveries.map(\.outcome) == ["success"])
    }

    @Test func sourceGapsAreRecorded() throws {
        let database = TemporaryDatabase()
        let (writer, _) = try database.writer()
        writer.recordGap(source: "redis://127.0.0.1:6379", start: Double(t0), end: Double(t0) + 3.5)
        #expect(writer.flush(now: Double(t0 + 4)))
        let gaps = try writer.withConnection { connection in
            try connection.query("SELECT source, ended_at - started_at FROM source_gaps") { ($0.text(0) ?? "", $0.real(1) ?? 0) }
        }
        #expect(gaps.map(\.0) == ["redis://127.0.0.1:6379"] && gaps.map(\.1) == [3.5])
    }

    @Test func aTransitionUpdatesItsConsumerAtOnce() throws {
        let database = TemporaryDatabase()
        let (writer, _) = try database.writer()
        writer.record(buckets: [], consumers: [consumer("w1", state: .up, since: Double(t0), lastHeartbeat: Double(t0))])
        writer.record(.init(consumer: "w1", group: "billing",
                            transition: .init(from: .up, to: .down, reason: "no heartbeat for 15s", at: Double(t0 + 15))))
        writer.flush(now: Double(t0 + 16))
        let saved = try #require(try writer.savedConsumers().first)
        #expect(saved.state == .down && saved.detector.stateSince == Double(t0 + 15) && saved.detector.reason == "no heartbeat for 15s")
    }
}

/// The writer's schedule on a manual clock: one flush per interval, never earlier.
@Suite struct StoreFlushScheduleTests {
    @Test func writesOncePerFlushIntervalAndOnceMoreWhenItStops() async throws {
        let database = TemporaryDatabase()
        let clock = ManualClock()
        let (writer, registry) = try database.writer {
            $0.flushInterval = .seconds(1)
            $0.clock = clock
            $0.wallClock = clock.wallClock
        }
        func rowsWritten() -> String? {
            exposition(registry).split(separator: "\n").first { $0.hasPrefix("lookout_store_rows_written_total ") }.map(String.init)
        }
        let group = ServiceGroup(services: [writer], logger: Logger(label: "test"))
        let running = startOnServiceThreads { try await group.run() }
        #expect(await clock.waitForSleepers(1), "the writer waits on the clock")
        writer.record(buckets: [bucket("orders", at: t0, messages: 5)], consumers: [])
        #expect(await clock.advance(by: .milliseconds(999)))
        #expect(rowsWritten() == "lookout_store_rows_written_total 0", "nothing before the interval")
        #expect(await clock.advance(by: .milliseconds(1)))
        #expect(rowsWritten() == "lookout_store_rows_written_total 1", "one flush at the interval")
        writer.record(buckets: [bucket("orders", at: t0 + 1, messages: 5), bucket("payments", at: t0 + 1, messages: 1)], consumers: [])
        #expect(await clock.advance(by: .seconds(10)))
        #expect(rowsWritten() == "lookout_store_rows_written_total 3", "the next batch at the next flush; idle flushes write nothing")
        writer.record(buckets: [bucket("orders", at: t0 + 12, messages: 1)], consumers: [])
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(rowsWritten() == "lookout_store_rows_written_total 4", "what is queued is written when the writer stops")
    }
}
