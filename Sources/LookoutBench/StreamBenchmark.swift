import Foundation

/// (f) Watching Redis Streams consumer groups: 1,000 streams with two groups each (one caught
/// up, one 5 entries behind with a consumer holding them), polled every 5 s by
/// `lookout serve --no-relay --stream 'bench:*'`; the poll's time, Lookout's CPU per poll and
/// the watched Redis's CPU per poll.
enum StreamBenchmark {
    struct Result {
        let streams: Int
        let polls: Int
        let pollSeconds: Summary
        let lookoutCPUPerPoll: Double
        /// The same Lookout without streams, per 5 s.
        let lookoutCPUWithoutStreams: Double
        let redisCPUPerPoll: Double
        /// One scrape of /metrics with every stream series, and how many series that is.
        let scrapeSeconds: Double
        let series: Int
    }

    static func run(quick: Bool, streams count: Int = 1_000) throws -> Result {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let setup = try WireConnection(port: redis.port)
        for index in 0..<count {
            let key = "bench:stream:\(index)"
            for entry in 0..<10 { _ = try setup.call(["XADD", key, "*", "n", "\(entry)"]) }
            _ = try setup.call(["XGROUP", "CREATE", key, "caught-up", "0"])
            _ = try setup.call(["XGROUP", "CREATE", key, "behind", "0"])
            _ = try setup.call(["XREADGROUP", "GROUP", "caught-up", "c", "COUNT", "10", "NOACK", "STREAMS", key, ">"])
            _ = try setup.call(["XREADGROUP", "GROUP", "behind", "c", "COUNT", "5", "STREAMS", key, ">"])
        }
        progress("  streams: \(count) streams with 2 groups each")
        // With the store, as lookout serve runs: every poll's group figures are written.
        let database = NSTemporaryDirectory() + "lookout-bench-streams-\(getpid()).db"
        let lookout = try ServerProcess.lookout(["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)", "--stream", "bench:*",
                                                 "--stream-interval", "5s", "--db", database], name: "lookout-streams", relay: false)
        defer {
            lookout.stop()
            for file in [database, database + "-plain"] {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) }
            }
        }
        let metricsPort = lookout.metricsPort!
        let source = #"{source="redis://127.0.0.1:\#(redis.port)"}"#
        func value(_ name: String) throws -> Double? { ScaleBenchmark.sample(try MonitorBenchmarks.scrape(metricsPort), name + source) }
        let deadline = Date().addingTimeInterval(60)
        while try value("lookout_stream_watched_streams") != Double(count) || (try value("lookout_stream_polls_total") ?? 0) < 2 {
            guard Date() < deadline else { throw BenchError("Lookout did not watch \(count) streams within 60 s") }
            usleep(100_000)
        }
        // Scraped only at both ends (a scrape of this many series costs CPU of its own, measured apart).
        let polls = quick ? 2 : 4
        let scrapeStart = monotonicNanoseconds()
        let before = try MonitorBenchmarks.scrape(metricsPort)
        let scrapeSeconds = Double(monotonicNanoseconds() - scrapeStart) / 1e9
        let (lookoutCPU, redisCPU) = (lookout.cpuSeconds, redis.cpuSeconds)
        usleep(UInt32(polls * 5_000_000))
        let (lookoutAfter, redisAfter) = (lookout.cpuSeconds, redis.cpuSeconds)
        let after = try MonitorBenchmarks.scrape(metricsPort)
        func read(_ text: String, _ name: String) -> Double { ScaleBenchmark.sample(text, name + source) ?? 0 }
        let made = Int(read(after, "lookout_stream_polls_total") - read(before, "lookout_stream_polls_total"))
        guard made > 0 else { throw BenchError("no poll in \(polls * 5) s") }
        // The same Lookout without --stream over the same time: what it spends anyway.
        lookout.stop()
        let plain = try ServerProcess.lookout(["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)", "--db", database + "-plain"],
                                              name: "lookout-plain", relay: false)
        defer { plain.stop() }
        usleep(2_000_000)
        let plainBefore = plain.cpuSeconds
        usleep(UInt32(polls * 5_000_000))
        let plainCPU = (plain.cpuSeconds - plainBefore) / Double(polls)
        return Result(streams: count, polls: made,
                      pollSeconds: Summary([read(before, "lookout_stream_poll_duration_seconds"), read(after, "lookout_stream_poll_duration_seconds")]),
                      lookoutCPUPerPoll: (lookoutAfter - lookoutCPU) / Double(made), lookoutCPUWithoutStreams: plainCPU,
                      redisCPUPerPoll: (redisAfter - redisCPU) / Double(made),
                      scrapeSeconds: scrapeSeconds, series: before.split(separator: "\n").filter { $0.hasPrefix("lookout_stream_") }.count)
    }
}
