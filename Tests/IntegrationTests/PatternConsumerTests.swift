#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RESP
import Synchronization
import Testing
import LookoutTestSupport

/// Consumers that listen with `PSUBSCRIBE`: never reported as missing while they receive, and
/// reported once they are gone; on Redis, whose patterns cannot be listed, a channel that may be
/// consumed through an unknown pattern is "unknown", never "without consumers".
@Suite(.serialized) struct PatternConsumerTests {
    private func scrape(_ lookout: InProcessLookout) async throws -> String { try await lookout.get("/metrics").body }

    private func sample(_ metrics: String, _ series: String) -> Double? { MonitorIntegrationTests.sample(metrics, series) }

    private func waitUntil(seconds: Double = 20, _ what: String, _ condition: () async throws -> Bool) async throws {
        guard try await eventually(seconds: seconds, condition) != nil else { throw TestFailure("\(what): not within \(seconds)s") }
    }

    private func fired(_ receiver: WebhookReceiver, _ channel: String) -> Bool {
        receiver.alerts.contains { $0.name == "LookoutChannelWithoutConsumers" && $0.status == "firing" && $0.labels["channel"] == channel }
    }

    private func relayScenario(named: Bool) async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: ["--alert-webhook", receiver.url, "--alert-hold", "1s", "--reconnect-grace", "1s"])
        let consumer = try TestConnection(port: lookout.port)
        if named { #expect(try await consumer.call("CLIENT", "SETNAME", "jobs-worker") == .simpleString("OK")) }
        _ = try await consumer.call("PSUBSCRIBE", "jobs.*")
        let publisher = try SteadyPublisher(port: lookout.port, channels: ["jobs.a"])
        defer { publisher.stop() }
        try await waitUntil("jobs.a judged with its pattern subscriber") {
            sample(try await scrape(lookout), #"lookout_channel_pattern_subscribers{channel="jobs.a"}"#) == 1
        }
        // The sentinel: a channel nobody consumes, published on only from now. Had jobs.a been
        // judged without consumers, its alert would have been pending since before the
        // sentinel's, and would have fired first.
        publisher.add("nobody.a")
        try await waitUntil("the sentinel's alert") { fired(receiver, "nobody.a") }
        #expect(!receiver.alerts.contains { $0.labels["channel"] == "jobs.a" }, "\(receiver.alerts)")
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, #"lookout_channel_subscribers{channel="jobs.a"}"#) == 0)
        #expect(sample(metrics, #"lookout_channel_pattern_subscribers{channel="jobs.a"}"#) == 1)
        #expect(sample(metrics, #"lookout_channel_consumption_unknown{channel="jobs.a"}"#) == 0)
        #expect(sample(metrics, #"lookout_channel_unrouted_messages_total{channel="jobs.a"}"#) == 0)
        #expect(sample(metrics, #"lookout_channel_pattern_subscribers{channel="nobody.a"}"#) == 0)
        if named { #expect(sample(metrics, #"lookout_consumer_up{consumer="jobs-worker",group=""}"#) == 1) }

        consumer.close()
        try await waitUntil("the alert once the pattern consumer is gone") { fired(receiver, "jobs.a") }
        #expect(sample(try await scrape(lookout), #"lookout_channel_pattern_subscribers{channel="jobs.a"}"#) == 0)
        if named {
            try await waitUntil("the named pattern consumer down") {
                receiver.alerts.contains { $0.name == "LookoutConsumerDown" && $0.consumer == "jobs-worker" && $0.status == "firing" }
            }
        }
        publisher.stop()
        try await lookout.stop()
    }

    @Test func anUnnamedPatternConsumerOnTheRelay() async throws {
        try await relayScenario(named: false)
    }

    @Test func aNamedPatternConsumerOnTheRelay() async throws {
        try await relayScenario(named: true)
    }

    /// A named pattern subscriber is a consumer like a plain one: what it misses while away is
    /// counted from the channels its patterns match. The grace is a minute, as in
    /// ConsumerProgressTests: Lookout judges on threads of its own while this task may wait
    /// for the shared concurrency pool between two steps.
    @Test func aNamedPatternConsumerThatReconnectsIsToldWhatItMissed() async throws {
        let lookout = try await InProcessLookout(arguments: ["--reconnect-grace", "60s"])
        var consumer = try TestConnection(port: lookout.port)
        _ = try await consumer.call("CLIENT", "SETNAME", "jobs-worker")
        _ = try await consumer.call("PSUBSCRIBE", "jobs.*")
        try await waitUntil("up") { sample(try await scrape(lookout), #"lookout_consumer_up{consumer="jobs-worker",group=""}"#) == 1 }
        consumer.close()
        try await waitUntil("away") {
            sample(try await scrape(lookout), #"lookout_consumer_state{consumer="jobs-worker",group="",state="late"}"#) == 1
        }
        let publisher = try TestConnection(port: lookout.port)
        try await offThePool {
            for i in 0..<7 { _ = try publisher.call("PUBLISH", "jobs.email", "m\(i)") }
            for i in 0..<3 { _ = try publisher.call("PUBLISH", "mail", "m\(i)") }
        }
        consumer = try TestConnection(port: lookout.port)
        _ = try await consumer.call("CLIENT", "SETNAME", "jobs-worker")
        _ = try await consumer.call("PSUBSCRIBE", "jobs.*")
        try await waitUntil("the reconnect counted") {
            sample(try await scrape(lookout), #"lookout_consumer_reconnects_total{consumer="jobs-worker",group=""}"#) == 1
        }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, #"lookout_consumer_missed_messages_total{consumer="jobs-worker",group=""}"#) == 7,
                "the seven on jobs.email, not the three on mail")
        #expect(sample(metrics, #"lookout_consumer_up{consumer="jobs-worker",group=""}"#) == 1)
        try await lookout.stop()
    }

    /// On Redis: a pattern nobody declared makes consumption unknown (no alert); a declared one
    /// makes its channels consumed; with every pattern consumer gone, both channels alert.
    @Test func onRedisUndeclaredPatternsAreUnknownAndDeclaredOnesConsumed() async throws {
        let redis = try RedisServer()
        let source = "redis://127.0.0.1:\(redis.port)"
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: [
            "--no-relay", "--redis", source, "--alert-webhook", receiver.url, "--alert-hold", "1s", "--consumer-pattern", "jobs.*",
        ])
        try await waitUntil("ready") { try await lookout.get("/readyz").status == 200 }
        let undeclared = try TestConnection(port: redis.port)
        _ = try await undeclared.call("PSUBSCRIBE", "mail.*")
        let declared = try TestConnection(port: redis.port)
        _ = try await declared.call("CLIENT", "SETNAME", "jobs-worker")
        _ = try await declared.call("PSUBSCRIBE", "jobs.*")
        let publisher = try SteadyPublisher(port: redis.port, channels: ["jobs.a", "mail.x"])
        defer { publisher.stop() }
        try await waitUntil("both channels judged") {
            let metrics = try await scrape(lookout)
            return sample(metrics, #"lookout_channel_pattern_subscribers{channel="jobs.a"}"#) == 1
                && sample(metrics, #"lookout_channel_consumption_unknown{channel="mail.x"}"#) == 1
        }
        // Three more polls of Redis (a second apart) after both were judged: three times the
        // alert's hold, with every refresh judging them the same.
        let probes = "lookout_probe_roundtrip_seconds_count{source=\"\(source)\"}"
        let before = sample(try await scrape(lookout), probes) ?? 0
        try await waitUntil("three more polls") { (sample(try await scrape(lookout), probes) ?? 0) >= before + 3 }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, #"lookout_channel_consumption_unknown{channel="jobs.a"}"#) == 0)
        #expect(sample(metrics, #"lookout_channel_pattern_subscribers{channel="mail.x"}"#) == 0)
        #expect(sample(metrics, #"lookout_channel_subscribers{channel="mail.x"}"#) == 0)
        #expect(!receiver.alerts.contains { $0.name == "LookoutChannelWithoutConsumers" }, "\(receiver.alerts)")

        // Every pattern consumer gone: only Lookout's own PSUBSCRIBE is left, nothing receives.
        undeclared.close()
        declared.close()
        try await waitUntil("both channels alerted") { fired(receiver, "jobs.a") && fired(receiver, "mail.x") }
        let after = try await scrape(lookout)
        #expect(sample(after, #"lookout_channel_consumption_unknown{channel="mail.x"}"#) == 0)
        #expect(sample(after, #"lookout_channel_pattern_subscribers{channel="jobs.a"}"#) == 0)
        publisher.stop()
        try await lookout.stop()
    }
}

/// Publishes on its channels every 100 ms from a thread of its own, for at most 60 s.
final class SteadyPublisher: Sendable {
    private let channels: Mutex<[String]>
    private let stopped = Atomic<Bool>(false)
    private let done = Atomic<Bool>(false)

    init(port: Int, channels: [String]) throws {
        self.channels = Mutex(channels)
        let connection = try TestConnection(port: port)
        Thread.detachNewThread { [self] in
            defer { done.store(true, ordering: .releasing) }
            for round in 0..<600 where !stopped.load(ordering: .acquiring) {
                for channel in self.channels.withLock({ $0 }) {
                    guard (try? connection.call("PUBLISH", channel, "m\(round)")) != nil else { return }
                }
                usleep(100_000)
            }
        }
    }

    func add(_ channel: String) { channels.withLock { $0.append(channel) } }

    /// Stops publishing and waits (at most a second) for the thread to finish.
    func stop() {
        stopped.store(true, ordering: .releasing)
        for _ in 0..<100 where !done.load(ordering: .acquiring) { usleep(10_000) }
    }
}
