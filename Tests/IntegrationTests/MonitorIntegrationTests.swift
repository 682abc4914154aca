#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RESP
import Testing
import LookoutTestSupport

/// The monitor in a real Lookout application (in process, real sockets), scraped over HTTP.
@Suite(.serialized) struct MonitorIntegrationTests {
    /// The value of one sample line in Prometheus text format, e.g. `name{label="x"}`.
    static func sample(_ exposition: String, _ series: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func relayTrafficAppearsOnMetricsWithExactCounts() async throws {
        let lookout = try await InProcessLookout()
        let subscriber = try TestConnection(port: lookout.port)
        _ = try subscriber.send(command: "SUBSCRIBE", "ch0", "ch1")
        _ = try await subscriber.readValues(2)
        let publisher = try TestConnection(port: lookout.port)
        let perChannel = 50
        var pipeline: [UInt8] = []
        for i in 0..<perChannel {
            for channel in ["ch0", "ch1", "ch2"] {
                pipeline += ScriptStep.encode([Array("PUBLISH".utf8), Array(channel.utf8), Array("message \(i)".utf8)])
            }
        }
        try publisher.send(pipeline)
        _ = try await publisher.readValues(perChannel * 3)
        _ = try await subscriber.readValues(perChannel * 2)

        var metrics = ""
        try await eventually {
            metrics = try await lookout.get("/metrics").body
            // Both from one refresh after the publisher connected (an earlier one may have seen
            // the subscriber alone).
            return Self.sample(metrics, "lookout_channel_subscribers{channel=\"ch0\"}") == 1
                && Self.sample(metrics, "lookout_relay_clients") == 2
        }

        for channel in ["ch0", "ch1", "ch2"] {
            #expect(Self.sample(metrics, "lookout_channel_messages_total{channel=\"\(channel)\"}") == Double(perChannel))
        }
        let payloadBytes = (0..<perChannel).map { "message \($0)".utf8.count }.reduce(0, +)
        #expect(Self.sample(metrics, "lookout_channel_bytes_total{channel=\"ch0\"}") == Double(payloadBytes))
        #expect(Self.sample(metrics, "lookout_channel_unrouted_messages_total{channel=\"ch0\"}") == 0)
        #expect(Self.sample(metrics, "lookout_channel_unrouted_messages_total{channel=\"ch2\"}") == Double(perChannel))
        #expect(Self.sample(metrics, "lookout_channel_subscribers{channel=\"ch0\"}") == 1)
        #expect(Self.sample(metrics, "lookout_channel_delivery_latency_seconds_count{channel=\"ch0\"}") == Double(perChannel))
        #expect(Self.sample(metrics, "lookout_channel_delivery_latency_seconds_count{channel=\"ch2\"}") == nil,
                "nothing was delivered on ch2: no latency histogram")
        #expect(Self.sample(metrics, "lookout_relay_clients") == 2)

        let channels = try await lookout.get("/api/v1/channels")
        #expect(channels.status == 200)
        let listed = try JSONSerialization.jsonObject(with: Data(channels.body.utf8)) as? [[String: Any]] ?? []
        #expect(listed.contains { $0["channel"] as? String == "ch2" })
        #expect(try await lookout.get("/healthz").status == 200)
        #expect(try await lookout.get("/readyz").status == 200)

        let check = try await runCommand(try executable("promtool"), ["check", "metrics"], input: metrics)
        #expect(check.status == 0, "promtool check metrics: \(check.output)")
        try await lookout.stop()
    }

    @Test func lookoutsOwnChannelsAreNeverUnrouted() async throws {
        let lookout = try await InProcessLookout()
        let publisher = try TestConnection(port: lookout.port)
        // A minute's interval: the consumer stays up however long this task waits for a thread.
        _ = try await publisher.call("PUBLISH", "lookout:heartbeat", #"{"v":1,"consumer":"w1","interval_ms":60000}"#)
        _ = try await publisher.call("PUBLISH", "nobody-listens", "x")
        var metrics = ""
        try await eventually {
            metrics = try await lookout.get("/metrics").body
            return Self.sample(metrics, "lookout_channel_messages_total{channel=\"lookout:heartbeat\"}") == 1
                && Self.sample(metrics, "lookout_consumer_up{consumer=\"w1\",group=\"\"}") == 1
        }
        #expect(Self.sample(metrics, "lookout_channel_unrouted_messages_total{channel=\"lookout:heartbeat\"}") == 0,
                "the monitor itself receives the heartbeats")
        #expect(Self.sample(metrics, "lookout_channel_unrouted_messages_total{channel=\"nobody-listens\"}") == 1)
        try await lookout.stop()
    }

    @Test func knownSeriesAreExportedFromTheStart() async throws {
        let lookout = try await InProcessLookout(arguments: ["--alert-webhook", "http://127.0.0.1:9/hook"])
        let metrics = try await lookout.get("/metrics").body
        #expect(Self.sample(metrics, "lookout_source_up{source=\"relay\"}") != nil)
        #expect(Self.sample(metrics, "lookout_alerts_sent_total{notifier=\"webhook\",outcome=\"success\"}") == 0)
        #expect(Self.sample(metrics, "lookout_alerts_sent_total{notifier=\"bus\",outcome=\"failure\"}") == 0)
        #expect(Self.sample(metrics, "lookout_heartbeats_invalid_total{reason=\"not_json\"}") == 0)
        try await lookout.stop()
    }

    /// A run of messages on one channel written to a subscriber together is timed once, and
    /// its latency histogram still counts every delivery.
    @Test func aRunOfDeliveriesIsCountedExactlyInTheLatencyHistogram() async throws {
        let lookout = try await InProcessLookout()
        let subscriber = try TestConnection(port: lookout.port)
        _ = try await subscriber.call("SUBSCRIBE", "runs")
        let publisher = try TestConnection(port: lookout.port)
        var pipeline: [UInt8] = []
        for i in 0..<500 { pipeline += ScriptStep.encode([Array("PUBLISH".utf8), Array("runs".utf8), Array("m\(i)".utf8)]) }
        try publisher.send(pipeline)
        _ = try await publisher.readValues(500)
        _ = try await subscriber.readValues(500)
        let counted = await eventually {
            Self.sample((try? await lookout.get("/metrics").body) ?? "", #"lookout_channel_delivery_latency_seconds_count{channel="runs"}"#) == 500
        }
        #expect(counted != nil, "500 deliveries in the histogram")
        try await lookout.stop()
    }

    @Test func channelCapAndGroupsBoundTheSeries() async throws {
        let lookout = try await InProcessLookout(arguments: ["--max-channels", "5", "--channel-group", "user:*:events=user-events"])
        // A subscriber on a channel past the cap: its delivery latencies and subscriber count are
        // asked about too, and must not count as overflowed messages.
        let subscriber = try TestConnection(port: lookout.port)
        _ = try await subscriber.call("SUBSCRIBE", "session:150")
        let publisher = try TestConnection(port: lookout.port)
        var pipeline: [UInt8] = []
        for i in 0..<200 { pipeline += ScriptStep.encode([Array("PUBLISH".utf8), Array("session:\(i)".utf8), Array("x".utf8)]) }
        for i in 0..<30 { pipeline += ScriptStep.encode([Array("PUBLISH".utf8), Array("user:\(i):events".utf8), Array("x".utf8)]) }
        try publisher.send(pipeline)
        _ = try await publisher.readValues(230)
        let metrics = try await lookout.get("/metrics").body
        #expect(Self.sample(metrics, "lookout_channel_messages_total{channel=\"user-events\"}") == 30)
        #expect(Self.sample(metrics, "lookout_channel_messages_total{channel=\"__other__\"}") == 195)
        #expect(Self.sample(metrics, "lookout_channel_messages_total{channel=\"session:0\"}") == 1)
        let series = metrics.split(separator: "\n").filter { $0.hasPrefix("lookout_channel_messages_total{") }
        #expect(series.count == 7, "5 tracked channels, one group, and __other__")
        // Two refreshes, seen through the subscriber count they label under __other__ (1, then 0
        // once the subscriber left): counting it must not count messages again.
        let refreshed = try await eventually { Self.sample(try await lookout.get("/metrics").body, #"lookout_channel_subscribers{channel="__other__"}"#) == 1 }
        #expect(refreshed != nil)
        _ = try await subscriber.call("UNSUBSCRIBE", "session:150")
        let again = try await eventually { Self.sample(try await lookout.get("/metrics").body, #"lookout_channel_subscribers{channel="__other__"}"#) == 0 }
        #expect(again != nil)
        let later = try await lookout.get("/metrics").body
        #expect(Self.sample(later, "lookout_channel_overflow_messages_total") == 195, "messages past the cap, each counted once")
        try await lookout.stop()
    }

    @Test func invalidFlagsExitWithStatus2() async throws {
        for arguments in [["--metrics", "nonsense"], ["--client-output-buffer-limit", "1 2"], ["--max-channels", "0"], ["--max-clients=0"], ["--bogus"]] {
            let result = try await runCommand(try LookoutProcess.binary, ["serve"] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.output)")
            #expect(result.output.contains("Error:"), "\(arguments): \(result.output)")
        }
    }

    /// The README says so: `lookout heartbeat` has no TLS, and refuses a `rediss://` URL with
    /// that reason rather than sending in clear what was meant to be encrypted.
    @Test func theHeartbeatSenderRefusesATLSURLSayingWhy() async throws {
        let result = try await runCommand(try LookoutProcess.binary, ["heartbeat", "--consumer", "w1", "--redis", "rediss://127.0.0.1:6380"])
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("lookout heartbeat speaks plain TCP only"), "\(result.output)")
        let plain = try await runCommand(try LookoutProcess.binary, ["heartbeat", "--consumer", "", "--redis", "redis://127.0.0.1:6380"])
        #expect(plain.status == 2 && plain.output.contains("--consumer: empty name"), "a plain URL passes on to the next check: \(plain.output)")
    }

    /// No open relay: beyond loopback with no password, `lookout serve` stops before it listens
    /// and says how to fix it (nothing is bound, so no traffic leaves loopback).
    @Test func anUnprotectedRelayBeyondLoopbackIsRefused() async throws {
        for address in ["0.0.0.0:0", "[::]:0", "192.0.2.10:6380"] {
            let result = try await runCommand(try LookoutProcess.binary, ["serve", "--relay", address, "--no-db"])
            #expect(result.status == 2, "\(address): \(result.output)")
            #expect(result.output.contains("protected mode: the relay would listen on"), "\(address): \(result.output)")
            #expect(result.output.contains("--relay-password") && result.output.contains("--no-protected-mode"), "\(result.output)")
        }
    }
}

/// `lookout serve --config FILE`.
@Suite(.serialized) struct ConfigurationFileTests {
    private func write(_ text: String) throws -> String {
        let path = "/tmp/lookout-config-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aBadFileIsRejectedWithTheKeyAndStatus2() async throws {
        let path = try write("relay:\n  max_clients: lots\n")
        defer { unlink(path) }
        let result = try await runCommand(try LookoutProcess.binary, ["serve", "--config", path])
        #expect(result.status == 2)
        #expect(result.output.contains("relay.max_clients: expected a whole number greater than 0"), "\(result.output)")
        let missing = try await runCommand(try LookoutProcess.binary, ["serve", "--config", "/nonexistent/lookout.yaml"])
        #expect(missing.status == 2)
        #expect(missing.output.contains("cannot read '/nonexistent/lookout.yaml'"))
        // What `make fuzz` found crashing the loader: a key that is a list; and bytes that are not text.
        let listKey = try write("channels:\n  ? [a, b]\n  : c\n")
        defer { unlink(listKey) }
        let crashed = try await runCommand(try LookoutProcess.binary, ["serve", "--config", listKey])
        #expect(crashed.status == 2)
        #expect(crashed.output.contains("channels: a key must be a plain name"), "\(crashed.output)")
        let binary = "/tmp/lookout-config-\(getpid())-binary.yaml"
        _ = FileManager.default.createFile(atPath: binary, contents: Data([0x72, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]))
        defer { unlink(binary) }
        let notText = try await runCommand(try LookoutProcess.binary, ["serve", "--config", binary])
        #expect(notText.status == 2)
        #expect(notText.output.contains("is not UTF-8 text"), "\(notText.output)")
    }

    @Test func fileSettingsApplyAndFlagsWin() async throws {
        let path = try write("channels:\n  groups:\n    - pattern: \"job:*\"\n      label: jobs\nrelay:\n  max_clients: 1\n")
        defer { unlink(path) }
        // --relay and --metrics (from InProcessLookout) override the file; the groups come from it.
        let lookout = try await InProcessLookout(arguments: ["--config", path, "--max-clients", "5"])
        let publisher = try TestConnection(port: lookout.port)
        let second = try TestConnection(port: lookout.port)
        #expect(try await second.call("PING") == .simpleString("PONG"), "--max-clients 5 wins over the file's 1")
        _ = try await publisher.call("PUBLISH", "job:1", "x")
        _ = try await publisher.call("PUBLISH", "job:2", "x")
        let metrics = try await lookout.get("/metrics").body
        #expect(MonitorIntegrationTests.sample(metrics, "lookout_channel_messages_total{channel=\"jobs\"}") == 2)
        try await lookout.stop()
    }
}
