import Foundation
import Glob
import LookoutCore
import Monitor
import Prometheus

import Store

/// The store's costs: one flush of 1,000 channels' one-second buckets (the writer's steady
/// load), and a 30-day history query on one channel of a month-old database.
enum StoreBenchmark {
    struct Result {
        var flushMilliseconds: Summary
        var cpuMillisecondsPerFlush: Double
        var historyMilliseconds: [String: Summary]
        var databaseBytes: Int
        var channels: Int
        var minuteRows: Int
    }

    static func run(quick: Bool) throws -> Result {
        let directory = NSTemporaryDirectory() + "lookout-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bench.db"
        let writer = try StoreWriter(path: path, registry: PrometheusCollectorRegistry())

        // A month of one-minute roll-ups for 50 channels, written directly (what 30 days of
        // running leaves behind), then the writer's steady state on top.
        let channels = quick ? 10 : 50
        let minutes = 30 * 24 * 60
        let now = Int64(Date().timeIntervalSince1970) / 60 * 60
        try writer.withConnection { connection in
            try connection.transaction {
                for minute in 0..<minutes {
                    let bucket = now - Int64(minutes - minute) * 60
                    for channel in 0..<channels {
                        try connection.run("""
                            INSERT INTO channel_minutes VALUES (?, ?, ?, ?, 0, 3, ?, 0.0004, 0.0009, 0.0012, 0.003)
                            """, [.integer(bucket), .text("channel-\(channel)"), .integer(600), .integer(60_000), .integer(600)])
                    }
                }
                try connection.run("INSERT OR REPLACE INTO store_state VALUES ('rolled_up_until', ?)", [.integer(now)])
            }
        }

        // Flushes of 1,000 channels × one bucket each, as a 1 s refresh produces them.
        var flushes: [Double] = []
        var cpu: [Double] = []
        let rounds = quick ? 30 : 120
        for round in 0..<rounds {
            let start = now + Int64(round)
            var latency = LatencyDigest()
            for value in [0.0003, 0.0005, 0.0011] { latency.record(value) }
            let buckets = (0..<1000).map { channel in
                ChannelStatistics.Bucket(channel: "channel-\(channel)", start: start, messages: 100, bytes: 10_000, unrouted: 0,
                                         subscribers: 2, latency: latency)
            }
            writer.record(buckets: buckets, consumers: [])
            let (wall, processor) = measure { _ = writer.flush(now: Double(start + 1)) }
            flushes.append(wall * 1000)
            cpu.append(processor * 1000)
        }

        let reader = try StoreReader(path: path)
        var history: [String: Summary] = [:]
        for (name, step) in [("30d step 6h", Int64(6 * 3600)), ("30d step 1h", Int64(3600)), ("30d step 1m", Int64(60))] {
            var times: [Double] = []
            for _ in 0..<(quick ? 3 : 10) {
                let (wall, _) = measure {
                    _ = try? reader.history(channel: "channel-7", since: Double(now - Int64(minutes) * 60), until: Double(now + 60), step: step)
                }
                times.append(wall * 1000)
            }
            history[name] = Summary(times)
        }
        writer.close()
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return Result(flushMilliseconds: Summary(flushes), cpuMillisecondsPerFlush: Summary(cpu).median, historyMilliseconds: history,
                      databaseBytes: size, channels: channels, minuteRows: channels * minutes)
    }
}
