import Foundation
import LookoutCore
import Prometheus

import Store

/// The store's costs at steady state: a database holding what the default tiers keep for 1,000
/// busy channels (every tier full: an hour of 1 s buckets, a day of 10 s, 30 days of 5 min),
/// its size on disk per tier, the writer's flush of 1,000 channels on top of it, and history
/// queries over 30 days. The same rows in the schema before tiers give the comparison.
enum StoreBenchmark {
    struct Tier {
        var resolution: Int64
        var rows: Int
        var bytes: Int
        /// Bytes one busy channel takes in this tier per day of history.
        var bytesPerChannelDay: Double
    }

    struct Result {
        var channels: Int
        var tiers: [Tier]
        var steadyStateBytes: Int
        var budget: Int
        var previousSchemaBytesPerChannelDay: Double
        var flushMilliseconds: Summary
        /// The mean: every tenth flush also rolls the 10 s tier up, every 300th the 5 min tier.
        var cpuMillisecondsPerFlush: Double
        var historyMilliseconds: [(String, Summary)]
    }

    static func run(quick: Bool) throws -> Result {
        let directory = NSTemporaryDirectory() + "lookout-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bench.db"
        let channels = quick ? 100 : 1000
        let tiers = StoreTiers.default
        let now = Int64(Date().timeIntervalSince1970) / 300 * 300
        var configuration = StoreWriter.Configuration()
        configuration.wallClock = { Double(now) }
        let writer = try StoreWriter(path: path, configuration: configuration, registry: PrometheusCollectorRegistry())

        // Every tier full, each tier filled on its own so its size can be read off.
        var measured: [Tier] = []
        try writer.withConnection { connection in
            try connection.transaction {
                for index in 0..<channels {
                    try connection.run("INSERT INTO channel_names (id, name) VALUES (?, ?)", [.integer(Int64(index + 1)), .text("channel-\(index)")])
                }
            }
            for tier in tiers.tiers.reversed() {
                let before = try TierMaintenance.usage(connection).live
                let buckets = Int64(tier.retention) / tier.resolution
                let first = now - buckets * tier.resolution
                let direct = tier.resolution == tiers.finest.resolution
                try connection.transaction {
                    // The directly written tier is ordered by time, the rolled-up ones by channel.
                    let insert = direct
                        ? "INSERT INTO recent_samples SELECT ? + step.n * ?, c.id, 40 * ?, 4000 * ?, 0, 3, 40 * ?, 400, 900, 1200, 3000 FROM step, channel_names c ORDER BY step.n, c.id"
                        : "INSERT INTO samples SELECT \(tier.resolution), c.id, ? + step.n * ?, 40 * ?, 4000 * ?, 0, 3, 40 * ?, 400, 900, 1200, 3000 FROM channel_names c, step ORDER BY c.id, step.n"
                    try connection.run("WITH RECURSIVE step(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM step WHERE n < ? - 1) " + insert,
                                       [.integer(buckets), .integer(first), .integer(tier.resolution), .integer(tier.resolution),
                                        .integer(tier.resolution), .integer(tier.resolution)])
                    try connection.run("INSERT OR REPLACE INTO tiers (resolution, start, rolled_up_until, direct) VALUES (?, ?, ?, ?)",
                                       [.integer(tier.resolution), .integer(first), direct ? .null : .integer(now), .integer(direct ? 1 : 0)])
                }
                let bytes = try TierMaintenance.usage(connection).live - before
                let rows = Int(buckets) * channels
                measured.append(Tier(resolution: tier.resolution, rows: rows, bytes: bytes,
                                     bytesPerChannelDay: Double(bytes) / Double(channels) / (tier.retention / 86400)))
            }
            try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        measured.reverse()
        let steadyState = StoreWriter.fileSize(path)

        // The previous schema (version 3): the same hour of 1 s rows, keyed by channel name.
        let previous = try previousSchemaBytesPerChannelDay(directory: directory, channels: min(channels, 200))

        // Flushes of 1,000 channels × one bucket each, as a 1 s refresh produces them.
        var flushes: [Double] = []
        var cpu: [Double] = []
        var latency = LatencyDigest()
        for value in [0.0003, 0.0005, 0.0011] { latency.record(value) }
        for round in 0..<(quick ? 30 : 600) {
            let start = now + Int64(round)
            let buckets = (0..<channels).map { channel in
                ChannelStatistics.Bucket(channel: "channel-\(channel)", start: start, messages: 100, bytes: 10_000, unrouted: 0,
                                         subscribers: 2, latency: latency)
            }
            writer.record(buckets: buckets, consumers: [])
            let (wall, processor) = measure { _ = writer.flush(now: Double(start + 1)) }
            flushes.append(wall * 1000)
            cpu.append(processor * 1000)
        }

        let reader = try StoreReader(path: path)
        var history: [(String, Summary)] = []
        for (name, since, step) in [("30 days, step 1 day", now - 30 * 86400, Int64(86400)), ("30 days, step 1 h", now - 30 * 86400, Int64(3600)),
                                    ("30 days, step 5 min", now - 30 * 86400, Int64(300)), ("30 days, step 1 min", now - 30 * 86400, Int64(60)),
                                    ("24 h, step 10 s", now - 86400, Int64(10)), ("1 h, step 1 s", now - 3600, Int64(1))] {
            var times: [Double] = []
            for _ in 0..<(quick ? 3 : 10) {
                let (wall, _) = measure { _ = try? reader.history(channel: "channel-7", since: Double(since), until: Double(now), step: step) }
                times.append(wall * 1000)
            }
            history.append((name, Summary(times)))
        }
        writer.close()
        return Result(channels: channels, tiers: measured, steadyStateBytes: steadyState, budget: configuration.maxSize,
                      previousSchemaBytesPerChannelDay: previous, flushMilliseconds: Summary(flushes),
                      cpuMillisecondsPerFlush: cpu.reduce(0, +) / Double(max(1, cpu.count)), historyMilliseconds: history)
    }

    /// Bytes per busy channel-day of 1 s samples in the schema before tiers (its raw table,
    /// keyed by channel name, latencies as reals).
    private static func previousSchemaBytesPerChannelDay(directory: String, channels: Int) throws -> Double {
        let connection = try SQLiteConnection(path: directory + "/previous.db", mode: .readWriteCreate)
        defer { connection.close() }
        try Schema.migrate(connection, upTo: 3)
        let before = try TierMaintenance.usage(connection).live
        try connection.transaction {
            try connection.run("""
                WITH RECURSIVE step(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM step WHERE n < 3599),
                     channel(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM channel WHERE n < ? - 1)
                INSERT INTO channel_samples
                SELECT 1800000000 + step.n, 'channel-' || channel.n, 40, 4000, 0, 3, 40, 0.0004, 0.0009, 0.0012, 0.003
                FROM channel, step ORDER BY channel.n, step.n
                """, [.integer(Int64(channels))])
        }
        let bytes = try TierMaintenance.usage(connection).live - before
        return Double(bytes) / Double(channels) * 24
    }
}
