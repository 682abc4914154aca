#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LookoutCore
import RESP
import Store
import Testing
import LookoutTestSupport

/// Lookout in sidecar mode (`--no-relay --redis`, in process) against a real redis-server.
@Suite(.serialized) struct RedisSourceTests {
    private func scrape(_ lookout: InProcessLookout) async throws -> String { try await lookout.get("/metrics").body }

    /// Waits for `condition`, failing the test when it never holds.
    private func waitUntil(seconds: Double = 15, _ condition: () async throws -> Bool) async throws {
        guard try await eventually(seconds: seconds, condition) != nil else { throw TestFailure("condition not met within \(seconds)s") }
    }

    private func sample(_ metrics: String, _ series: String) -> Double? {
        MonitorIntegrationTests.sample(metrics, series)
    }

    @Test func countsEveryMessageOnRedisAndSurvivesARestart() async throws {
        let redis = try RedisServer()
        let source = "redis://127.0.0.1:\(redis.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source])
        try await waitUntil { try await lookout.get("/readyz").status == 200 }

        let subscriber = try TestConnection(port: redis.port)
        _ = try await subscriber.call("SUBSCRIBE", "watched")
        let publisher = try TestConnection(port: redis.port)
        // Prime both channels so the poller has their NUMSUB, then publish the counted batch.
        _ = try await publisher.call("PUBLISH", "watched", "prime")
        _ = try await publisher.call("PUBLISH", "nobody", "prime")
        try await waitUntil { sample(try await scrape(lookout), "lookout_channel_subscribers{channel=\"watched\"}") == 1 }
        // One more whole poll after both channels were seen (each poll starts with a probe), so
        // the poller knows that "nobody" has no subscriber.
        let probes = sample(try await scrape(lookout), "lookout_probe_roundtrip_seconds_count{source=\"\(source)\"}") ?? 0
        try await waitUntil { (sample(try await scrape(lookout), "lookout_probe_roundtrip_seconds_count{source=\"\(source)\"}") ?? 0) >= probes + 2 }

        let perChannel = 200
        var pipeline: [UInt8] = []
        for i in 0..<perChannel {
            for channel in ["watched", "nobody", "third"] {
                pipeline += ScriptStep.encode([Array("PUBLISH".utf8), Array(channel.utf8), Array("m\(i)".utf8)])
            }
        }
        try publisher.send(pipeline)
        let replies = try await publisher.readValues(perChannel * 3)
        #expect(replies.filter { $0 == .integer(2) }.count == perChannel,
                "Redis counts the monitor's PSUBSCRIBE as a receiver on the watched channel")

        try await waitUntil { sample(try await scrape(lookout), "lookout_channel_messages_total{channel=\"third\"}") == Double(perChannel) }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, "lookout_channel_messages_total{channel=\"watched\"}") == Double(perChannel + 1))
        #expect(sample(metrics, "lookout_channel_messages_total{channel=\"nobody\"}") == Double(perChannel + 1))
        #expect(sample(metrics, "lookout_channel_unrouted_messages_total{channel=\"watched\"}") == 0)
        #expect((sample(metrics, "lookout_channel_unrouted_messages_total{channel=\"nobody\"}") ?? 0) >= Double(perChannel),
                "published to nobody, although PUBLISH replied 1 (the monitor)")
        #expect((sample(metrics, "lookout_probe_roundtrip_seconds_count{source=\"\(source)\"}") ?? 0) >= 1)
        #expect(sample(metrics, "lookout_source_up{source=\"\(source)\"}") == 1)
        #expect(sample(metrics, "lookout_channel_messages_total{channel=\"lookout:probe\"}") == nil, "probes are not traffic")

        let check = try await runCommand(try executable("promtool"), ["check", "metrics"], input: metrics)
        #expect(check.status == 0, "promtool check metrics: \(check.output)")

        // Redis goes away: the source goes down, Lookout keeps serving, and comes back with a recorded gap.
        await redis.stop()
        try await waitUntil { sample(try await scrape(lookout), "lookout_source_up{source=\"\(source)\"}") == 0 }
        #expect(try await lookout.get("/readyz").status == 503)
        let restarted = try RedisServer(port: redis.port)
        defer { restarted.stop() }
        try await waitUntil { sample(try await scrape(lookout), "lookout_source_up{source=\"\(source)\"}") == 1 }
        let after = try await scrape(lookout)
        #expect(sample(after, "lookout_source_reconnects_total{source=\"\(source)\"}") == 1)
        #expect((sample(after, "lookout_source_gap_seconds_total{source=\"\(source)\"}") ?? 0) > 0)
        #expect(try await lookout.get("/healthz").status == 200)
        let newPublisher = try TestConnection(port: restarted.port)
        _ = try await newPublisher.call("PUBLISH", "third", "after the gap")
        try await waitUntil { sample(try await scrape(lookout), "lookout_channel_messages_total{channel=\"third\"}") == Double(perChannel + 1) }
        try await lookout.stop()
    }

    /// A consumer's heartbeats cannot be seen while Redis is away: its silence then is not its
    /// own. With a 1 s interval and Redis gone for 4 s, it would be down without that rule.
    @Test func aConsumerBeatingThroughARedisThatRestartsNeverLeavesUp() async throws {
        let redis = try RedisServer()
        let port = redis.port
        let source = "redis://127.0.0.1:\(port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source])
        try await waitUntil { try await lookout.get("/readyz").status == 200 }
        // Beats every 200 ms from a process of its own (redis-cli, connecting afresh each time).
        let beating = try heartbeatLoop(port: port, consumer: "steady-1", intervalMilliseconds: 1_000)
        defer { beating.stop(signal: SIGKILL) }
        let up = #"lookout_consumer_state{consumer="steady-1",group="billing",state="up"}"#
        try await waitUntil { sample(try await scrape(lookout), up) == 1 }

        await redis.stop()
        try await waitUntil { sample(try await scrape(lookout), "lookout_source_up{source=\"\(source)\"}") == 0 }
        // The outage lasts past 3 intervals (down, were silence judged).
        try await Task.sleep(for: .seconds(4))
        #expect(sample(try await scrape(lookout), up) == 1, "not judged while its heartbeats cannot be seen")
        let restarted = try RedisServer(port: port)
        defer { restarted.stop() }
        try await waitUntil { sample(try await scrape(lookout), "lookout_source_up{source=\"\(source)\"}") == 1 }
        // Heartbeats seen again, and judged for more than 3 intervals since.
        let back = wallClockSeconds()
        let lastBeat = #"lookout_consumer_last_heartbeat_timestamp_seconds{consumer="steady-1",group="billing"}"#
        try await waitUntil { (sample(try await scrape(lookout), lastBeat) ?? 0) >= back + 3.5 }
        #expect(sample(try await scrape(lookout), up) == 1)
        await beating.stop(signal: SIGKILL)
        try await lookout.stop()
        let store = try StoreReader(path: try #require(lookout.databasePath))
        let changes = try store.transitions(since: 0, until: Double(Int32.max)).filter { $0.consumer == "steady-1" }
        #expect(changes.isEmpty, "\(changes.map { "\($0.from) → \($0.to) (\($0.reason))" })")
    }

    @Test func redisDroppingTheMonitorForItsOutputBufferIsAGapNotACrash() async throws {
        // A tiny pub/sub output buffer limit: Redis disconnects the monitor's subscription as soon
        // as a burst of large messages piles up in it.
        let redis = try RedisServer(extraArguments: ["--client-output-buffer-limit", "pubsub 32kb 16kb 1"])
        let source = "redis://127.0.0.1:\(redis.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source])
        try await waitUntil { try await lookout.get("/readyz").status == 200 }
        let publisher = try TestConnection(port: redis.port)
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        var burst: [UInt8] = []
        for _ in 0..<64 { burst += ScriptStep.encode([Array("PUBLISH".utf8), Array("bulk".utf8), payload]) }
        var reconnected = false
        for _ in 0..<20 where !reconnected {
            try publisher.send(burst)
            _ = try await publisher.readValues(64)
            reconnected = (sample(try await scrape(lookout), "lookout_source_reconnects_total{source=\"\(source)\"}") ?? 0) >= 1
        }
        try await waitUntil { (sample(try await scrape(lookout), "lookout_source_reconnects_total{source=\"\(source)\"}") ?? 0) >= 1 }
        try await waitUntil { sample(try await scrape(lookout), "lookout_source_up{source=\"\(source)\"}") == 1 }
        #expect(try await lookout.get("/healthz").status == 200)
        #expect((sample(try await scrape(lookout), "lookout_source_gap_seconds_total{source=\"\(source)\"}") ?? 0) > 0, "the gap is counted")
        try await lookout.stop()
    }

    @Test func keyspaceNotificationsAreNotCountedAsChannels() async throws {
        let redis = try RedisServer(extraArguments: ["--notify-keyspace-events", "KEA"])
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)"])
        try await waitUntil { try await lookout.get("/readyz").status == 200 }
        let client = try TestConnection(port: redis.port)
        #expect(try await client.call("SET", "k", "v") == .simpleString("OK"))
        _ = try await client.call("PUBLISH", "marker", "x")
        try await waitUntil { sample(try await scrape(lookout), "lookout_channel_messages_total{channel=\"marker\"}") == 1 }
        #expect(!(try await scrape(lookout)).contains("__keyspace@"))
        try await lookout.stop()
    }

    @Test func envelopeTimestampsGiveLatency() async throws {
        let redis = try RedisServer()
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)", "--timestamp-field", "ts"])
        try await waitUntil { try await lookout.get("/readyz").status == 200 }
        let client = try TestConnection(port: redis.port)
        let milliseconds = Int(Date().timeIntervalSince1970 * 1000)
        _ = try await client.call("PUBLISH", "events", "{\"id\":1,\"ts\":\(milliseconds)}")
        _ = try await client.call("PUBLISH", "events", "no envelope")
        try await waitUntil { sample(try await scrape(lookout), "lookout_channel_messages_total{channel=\"events\"}") == 2 }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, "lookout_channel_delivery_latency_seconds_count{channel=\"events\"}") == 1)
        #expect((sample(metrics, "lookout_channel_delivery_latency_seconds_sum{channel=\"events\"}") ?? 99) < 5)
        try await lookout.stop()
    }

    @Test func passwordProtectedRedis() async throws {
        let redis = try RedisServer(extraArguments: ["--requirepass", "s3cret"])
        let wrong = try await InProcessLookout(arguments: ["--no-relay", "--redis", "redis://:nope@127.0.0.1:\(redis.port)"])
        let right = try await InProcessLookout(arguments: ["--no-relay", "--redis", "redis://:s3cret@127.0.0.1:\(redis.port)"])
        try await waitUntil { try await right.get("/readyz").status == 200 }
        #expect(try await wrong.get("/readyz").status == 503, "started at the same time as the right one, and never connected")
        try await wrong.stop()
        try await right.stop()
    }
}
