import CBenchSupport
import CHiredis
import Foundation
import LookoutCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What watching costs: on the relay (observer on vs off), on Redis (the monitor against a
/// plain hiredis subscriber under a maximal publisher), and at scrape time.
enum MonitorBenchmarks {
    // MARK: (b) Lookout beside Redis

    struct SidecarResult {
        var channels: Int
        var published: Int
        var hiredisCount: Int
        var lookoutCount: Int
        var reconnects: Int
        var cpuMicrosecondsPerMessage: Double
        var publishRate: Double
    }

    /// One run: a fresh redis-server and `lookout serve --no-relay` beside it (default settings,
    /// so beyond 1,000 channels the rest are counted under `__other__`), a maximal publisher
    /// rotating over `channelCount` channels.
    static func sidecar(quick: Bool, channelCount: Int) throws -> SidecarResult {
        let redis = try ServerProcess.redis()
        defer { redis.stop() }
        let lookout = try ServerProcess.lookout(["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)"],
                                                name: "lookout-sidecar", relay: false)
        defer { lookout.stop() }
        try waitUntilWatching(lookout, redisPort: redis.port)
        let metricsPort = lookout.metricsPort!
        progress("  sidecar: monitor subscribed")
        let channels = (0..<channelCount).map { "bench:\($0)" }
        let messages = quick ? 300_000 : 1_000_000
        let counter = HiredisCounter(port: redis.port)
        try counter.start()
        let cpuBefore = lookout.cpuSeconds
        let publisher = try Publisher(port: redis.port, channels: channels, payloadSize: 16)
        let start = monotonicNanoseconds()
        let published = try publisher.run(messages: messages, seconds: quick ? 10 : 30)
        let publishSeconds = Double(monotonicNanoseconds() - start) / 1e9
        progress("  sidecar: published \(published)")
        counter.wait(for: published, seconds: 30)
        progress("  sidecar: hiredis counted \(counter.count)")
        let lookoutCount = try settledCount(metricsPort, channels: channels, expected: published)
        let cpu = lookout.cpuSeconds - cpuBefore
        let metrics = try scrape(metricsPort)
        let reconnects = metrics.split(separator: "\n").first { $0.hasPrefix("lookout_source_reconnects_total{") }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }.map { Int($0) } ?? -1
        return SidecarResult(channels: channelCount, published: published, hiredisCount: counter.count, lookoutCount: lookoutCount, reconnects: reconnects,
                             cpuMicrosecondsPerMessage: cpu / Double(max(1, published)) * 1e6, publishRate: Double(published) / publishSeconds)
    }

    // MARK: (e) What Lookout costs the Redis it watches

    /// How Redis runs in a round of ``redisCost(quick:)``.
    enum RedisCostVariant: String, CaseIterable, CustomStringConvertible {
        case alone
        /// The least any watcher of every message costs: a C client holding `PSUBSCRIBE *`.
        case patternSubscriber = "hiredis_psubscribe"
        case watching
        case outsideWatch = "outside_watch"

        var description: String {
            switch self {
            case .alone: "Redis alone"
            case .patternSubscriber: "with a plain C client (hiredis) holding PSUBSCRIBE *"
            case .watching: "with lookout serve --no-relay attached"
            case .outsideWatch: "with Lookout attached and --watch 'elsewhere:*' (the channel not watched)"
            }
        }

        /// Lookout's arguments beyond the Redis URL, or nil for no Lookout.
        var lookoutArguments: [String]? {
            switch self {
            case .alone, .patternSubscriber: nil
            case .watching: []
            case .outsideWatch: ["--watch", "elsewhere:*"]
            }
        }
    }

    struct RedisCostRound {
        var variant: RedisCostVariant
        var redisMicroseconds: Double
        var lookoutMicroseconds: Double
        var publishRate: Double
        var lookoutCount: Int
        var expectedLookoutCount: Int
    }

    struct RedisCostResult {
        var rounds: [RedisCostRound]

        func median(_ variant: RedisCostVariant) -> Double? {
            let values = rounds.filter { $0.variant == variant }.map(\.redisMicroseconds)
            return values.isEmpty ? nil : Summary(values).median
        }
    }

    /// One redis-server with one plain subscriber on `bench:cost`, and `redis-benchmark -P 16`
    /// (its default 50 clients) publishing there; rounds alternate Redis alone, with a minimal C
    /// pattern subscriber, with Lookout attached, and with Lookout attached but watching elsewhere. Redis's CPU (from /proc) per
    /// message published, until the subscriber has every message; Lookout's until its count
    /// settles. Redis has a CPU of its own, as on a production host; the publisher, the
    /// subscriber and Lookout share the other (with one CPU, nothing is pinned).
    static func redisCost(quick: Bool) throws -> RedisCostResult {
        let pinning = sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2
        let (redisCPU, othersCPU) = pinning ? (0, 1) : (nil, nil)
        let redis = try ServerProcess.redis(cpu: redisCPU)
        defer { redis.stop() }
        let channel = "bench:cost"
        let messages = quick ? 300_000 : 3_000_000
        var rounds: [RedisCostRound] = []
        let variants = RedisCostVariant.allCases
        for round in 0..<(quick ? 1 : 5) {
            for offset in variants.indices {
                let variant = variants[(round + offset) % variants.count]
                var lookout: ServerProcess?
                if let extra = variant.lookoutArguments {
                    let attached = try ServerProcess.lookout(["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)"] + extra,
                                                             name: "lookout-attached", relay: false, cpu: othersCPU)
                    lookout = attached
                    try waitUntilWatching(attached, redisPort: redis.port)
                }
                defer { lookout?.stop() }
                let subscriber = HiredisCounter(port: redis.port, subscriptions: [["SUBSCRIBE", channel]], cpu: othersCPU)
                try subscriber.start()
                let watcher = variant == .patternSubscriber ? HiredisCounter(port: redis.port, cpu: othersCPU) : nil
                try watcher?.start()
                let redisBefore = redis.cpuSeconds
                let lookoutBefore = lookout?.cpuSeconds ?? 0
                let start = monotonicNanoseconds()
                guard LookoutBench.redisBenchmark(port: redis.port, requests: messages, channel: channel, clients: 50, cpu: othersCPU) != nil else {
                    throw BenchError("redis-benchmark did not run")
                }
                subscriber.wait(for: messages, seconds: 30)
                watcher?.wait(for: messages, seconds: 30)
                let seconds = Double(monotonicNanoseconds() - start) / 1e9
                let redisSeconds = redis.cpuSeconds - redisBefore
                guard subscriber.count == messages else { throw BenchError("the subscriber received \(subscriber.count) of \(messages)") }
                let expected = variant == .watching ? messages : 0
                var counted = 0
                if let lookout {
                    counted = try settledCount(lookout.metricsPort!, channels: [channel], expected: expected)
                }
                rounds.append(RedisCostRound(variant: variant, redisMicroseconds: redisSeconds / Double(messages) * 1e6,
                                             lookoutMicroseconds: ((lookout?.cpuSeconds ?? 0) - lookoutBefore) / Double(messages) * 1e6,
                                             publishRate: Double(messages) / seconds, lookoutCount: counted, expectedLookoutCount: expected))
                progress("  redis cost: \(variant.rawValue) \(String(format: "%.3f", rounds.last!.redisMicroseconds)) µs")
            }
        }
        return RedisCostResult(rounds: rounds)
    }

    /// Waits (up to 20 s) until Lookout reports its Redis source up: it sees every message.
    static func waitUntilWatching(_ lookout: ServerProcess, redisPort: Int) throws {
        let deadline = Date().addingTimeInterval(20)
        let up = "lookout_source_up{source=\"redis://127.0.0.1:\(redisPort)\"} 1"
        while Date() < deadline {
            if try scrape(lookout.metricsPort!).contains(up) { return }
            usleep(100_000)
        }
        throw BenchError("Lookout did not subscribe within 20 s")
    }

    /// Lookout's count on `channels` once it reaches `expected` or stops moving (bounded: 30 s).
    static func settledCount(_ metricsPort: Int, channels: [String], expected: Int) throws -> Int {
        var count = -1
        var stable = 0
        let deadline = Date().addingTimeInterval(30)
        while stable < 3 && Date() < deadline {
            usleep(300_000)
            let now = try messageCount(metricsPort, channels: channels)
            stable = now == count ? stable + 1 : 0
            count = now
            if count == expected && expected > 0 { break }
        }
        return count
    }

    // MARK: (c) /metrics with 1,000 channels and 1,000 consumers

    struct ScrapeResult {
        var milliseconds: Summary
        var bytes: Int
        var channels: Int
        var consumers: Int
    }

    static func scrapeCost(quick: Bool) throws -> ScrapeResult {
        let lookout = try ServerProcess.lookout(["--max-channels", "5000"], name: "lookout-scrape")
        defer { lookout.stop() }
        let connection = try WireConnection(port: lookout.port)
        var pipeline: [UInt8] = []
        for index in 0..<1000 {
            pipeline += RESPCommand.encode(["PUBLISH", "orders:\(index)", "x"])
            pipeline += RESPCommand.encode(["PUBLISH", OwnChannels.heartbeat, #"{"v":1,"consumer":"consumer-\#(index)","group":"g\#(index % 20)","interval_ms":600000,"processed":\#(index)}"#])
        }
        try connection.send(pipeline)
        let metricsPort = lookout.metricsPort!
        var body = ""
        let deadline = Date().addingTimeInterval(20)
        repeat {
            usleep(200_000)
            body = try scrape(metricsPort)
        } while Date() < deadline && (count("lookout_consumer_up{", in: body) < 1000 || count("lookout_channel_subscribers{", in: body) < 1000)
        var times: [Double] = []
        var size = 0
        for _ in 0..<(quick ? 10 : 30) {
            let start = monotonicNanoseconds()
            let (status, bytes) = try httpGet(port: metricsPort, path: "/metrics")
            times.append(Double(monotonicNanoseconds() - start) / 1e6)
            guard status == 200 else { throw BenchError("/metrics answered \(status)") }
            size = bytes.count
        }
        return ScrapeResult(milliseconds: Summary(times), bytes: size, channels: count("lookout_channel_subscribers{", in: body),
                            consumers: count("lookout_consumer_up{", in: body))
    }

    // MARK: helpers

    static func scrape(_ port: Int) throws -> String {
        String(decoding: try httpGet(port: port, path: "/metrics").body, as: UTF8.self)
    }

    /// Messages Lookout counted on these channels, with those counted under `__other__` past the
    /// tracked-channel cap.
    static func messageCount(_ port: Int, channels: [String]) throws -> Int {
        let wanted = Set((channels + ["__other__"]).map { "lookout_channel_messages_total{channel=\"\($0)\"}" })
        return try scrape(port).split(separator: "\n").reduce(0) { total, line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, wanted.contains(String(parts[0])), let value = Double(parts[1]) else { return total }
            return total + Int(value)
        }
    }

    static func count(_ prefix: String, in text: String) -> Int {
        text.split(separator: "\n").filter { $0.hasPrefix(prefix) }.count
    }
}

/// A plain C subscriber: hiredis, `PSUBSCRIBE *` (or the given subscriptions, such as one
/// `SSUBSCRIBE` per shard channel), counting `pmessage` and `smessage` replies on `bench:`
/// channels on its own thread.
final class HiredisCounter: @unchecked Sendable {
    private let port: Int
    private let subscriptions: [[String]]
    private let received = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let ready = Atomic<Bool>(false)
    private let cpu: Int?

    /// `cpu`: the CPU its thread runs on, or nil for any.
    init(port: Int, subscriptions: [[String]] = [["PSUBSCRIBE", "*"]], cpu: Int? = nil) {
        self.port = port
        self.subscriptions = subscriptions
        self.cpu = cpu
    }

    var count: Int { received.load(ordering: .relaxed) }

    func start() throws {
        let thread = Thread { self.loop() }
        thread.start()
        let deadline = Date().addingTimeInterval(10)
        while !ready.load(ordering: .acquiring) && Date() < deadline { usleep(10_000) }
        guard ready.load(ordering: .acquiring) else { throw BenchError("hiredis subscriber did not subscribe") }
    }

    func wait(for expected: Int, seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while count < expected && Date() < deadline { usleep(10_000) }
        stopping.store(true, ordering: .relaxed)
    }

    private func loop() {
        if let cpu { _ = bench_pin_thread(Int32(cpu)) }
        guard let context = redisConnect("127.0.0.1", Int32(port)), context.pointee.err == 0 else { return }
        defer { redisFree(context) }
        redisSetTimeout(context, timeval(tv_sec: 0, tv_usec: 200_000))
        for subscription in subscriptions {
            var words: [UnsafePointer<CChar>?] = subscription.map { UnsafePointer(strdup($0)) }
            defer { words.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
            var lengths = subscription.map(\.utf8.count)
            guard let confirmation = redisCommandArgv(context, Int32(words.count), &words, &lengths) else { return }
            freeReplyObject(confirmation)
        }
        ready.store(true, ordering: .releasing)
        while !stopping.load(ordering: .relaxed) {
            var reply: UnsafeMutableRawPointer?
            if redisGetReply(context, &reply) != REDIS_OK {
                // A read timeout: clear the error and keep waiting.
                context.pointee.err = 0
                continue
            }
            if let reply {
                let value = reply.assumingMemoryBound(to: redisReply.self).pointee
                // pmessage, pattern, channel, payload or smessage, channel, payload: count the
                // benchmark's channels only (not Lookout's probes, which pass through the same Redis).
                if value.type == REDIS_REPLY_ARRAY && (value.elements == 4 || value.elements == 3),
                   let channel = value.element[value.elements == 4 ? 2 : 1]?.pointee,
                   channel.len > 6, memcmp(channel.str, "bench:", 6) == 0 {
                    received.add(1, ordering: .relaxed)
                }
                freeReplyObject(reply)
            }
        }
    }
}
