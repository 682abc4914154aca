import LookoutCore
import RESP
import Testing
import LookoutTestSupport

/// `--watch`: Lookout subscribes to the given globs instead of `*`, counts exactly what they
/// match (once, however many match), and sees nothing outside them.
@Suite(.serialized) struct RedisWatchTests {
    private func scrape(_ lookout: InProcessLookout) async throws -> String { try await lookout.get("/metrics").body }
    private func sample(_ metrics: String, _ series: String) -> Double? { MonitorIntegrationTests.sample(metrics, series) }

    private func waitUntil(seconds: Double = 20, _ what: String, _ condition: () async throws -> Bool) async throws {
        guard try await eventually(seconds: seconds, condition) != nil else { throw TestFailure("\(what): not within \(seconds)s") }
    }

    @Test func aWatchHoldsItsPatternsAndSeesOnlyWhatTheyMatch() async throws {
        let redis = try RedisServer()
        let source = "redis://127.0.0.1:\(redis.port)"
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: [
            "--no-relay", "--redis", source, "--watch", "orders.*", "--watch", "*.created",
            "--alert-webhook", receiver.url, "--alert-hold", "1s",
        ])
        try await waitUntil("ready") { try await lookout.get("/readyz").status == 200 }

        // Exactly the two globs, and the probe and heartbeat channels (outside them) as patterns.
        let admin = try TestConnection(port: redis.port)
        #expect(try await admin.call("PUBSUB", "NUMPAT") == .integer(4))
        let clients = await ClientListEntry.parse(try admin.call("CLIENT", "LIST", "TYPE", "pubsub").string ?? "")
        #expect(clients.filter { $0.name == "lookout-monitor" }.map(\.patternSubscriptions) == [4], "\(clients)")
        let exposed = try await scrape(lookout)
        #expect(sample(exposed, "lookout_source_watch_patterns{source=\"\(source)\",pattern=\"orders.*\"}") == 1)
        #expect(sample(exposed, "lookout_source_watch_patterns{source=\"\(source)\",pattern=\"*.created\"}") == 1)

        // orders.created matches both globs: Redis delivers it to Lookout twice, counted once.
        let publisher = try TestConnection(port: redis.port)
        let perChannel = 300
        let channels = ["orders.created", "orders.paid", "users.created", "payments.settled"]
        var pipeline: [UInt8] = []
        for i in 0..<perChannel {
            for channel in channels { pipeline += ScriptStep.encode([Array("PUBLISH".utf8), Array(channel.utf8), Array("m\(i)".utf8)]) }
        }
        try publisher.send(pipeline)
        _ = try await publisher.readValues(perChannel * channels.count)
        try await waitUntil("counted") {
            let metrics = try await scrape(lookout)
            return sample(metrics, #"lookout_channel_messages_total{channel="orders.paid"}"#) == Double(perChannel)
                && sample(metrics, #"lookout_channel_messages_total{channel="users.created"}"#) == Double(perChannel)
                && sample(metrics, #"lookout_channel_messages_total{channel="orders.created"}"#) == Double(perChannel)
        }

        // Traffic with no subscriber inside the watch and outside it: only the one inside alerts.
        let steady = try SteadyPublisher(port: redis.port, channels: ["orders.paid", "payments.settled"])
        defer { steady.stop() }
        try await waitUntil("the watched channel alerted") {
            receiver.alerts.contains { $0.name == "LookoutChannelWithoutConsumers" && $0.status == "firing" && $0.labels["channel"] == "orders.paid" }
        }
        let probes = "lookout_probe_roundtrip_seconds_count{source=\"\(source)\"}"
        let before = sample(try await scrape(lookout), probes) ?? 0
        try await waitUntil("three more polls") { (sample(try await scrape(lookout), probes) ?? 0) >= before + 3 }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, #"lookout_channel_messages_total{channel="orders.created"}"#) == Double(perChannel))
        #expect(!metrics.contains("payments.settled"), "a channel outside the watch has no series")
        #expect(!receiver.alerts.contains { $0.labels["channel"] == "payments.settled" }, "\(receiver.alerts)")
        let check = try await runCommand(try executable("promtool"), ["check", "metrics"], input: metrics)
        #expect(check.status == 0, "promtool check metrics: \(check.output)")
        steady.stop()
        try await lookout.stop()
    }
}
