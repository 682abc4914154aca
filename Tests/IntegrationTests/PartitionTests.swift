#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RESP
import Synchronization
import Testing
import LookoutTestSupport

/// Links that go silent without closing: a loopback proxy between Lookout and redis-server
/// blackholes one link (or all), or redis-server is frozen with SIGSTOP. With default settings
/// Lookout must notice within 10 s (source down, /readyz 503 naming it, a gap), count again
/// within 10 s of the link coming back, and never judge traffic from counts it could not refresh.
@Suite(.serialized) struct PartitionTests {
    /// The bound the issue sets, with the default link timeout of 5 s inside it.
    private let bound = 10.0

    private func metric(_ lookout: InProcessLookout, _ series: String) async throws -> Double? {
        MonitorIntegrationTests.sample(try await lookout.get("/metrics").body, series)
    }

    /// The same sample, read by a blocking GET: for ``timed(_:_:_:)``.
    private func metricNow(_ lookout: InProcessLookout, _ series: String) throws -> Double? {
        MonitorIntegrationTests.sample(try httpGet(port: lookout.metricsPort, path: "/metrics").body, series)
    }

    private func readinessNow(_ lookout: InProcessLookout) throws -> (status: Int, body: String) {
        try httpGet(port: lookout.metricsPort, path: "/readyz")
    }

    /// Waits for `condition` like ``within(_:_:_:)``, polling from a thread kept for test I/O:
    /// the seconds it returns are compared with the bound, and a poll that waits for the busy
    /// concurrency pool would add that wait to Lookout's time.
    @discardableResult
    private func timed(_ seconds: Double, _ what: String, _ condition: @escaping @Sendable () throws -> Bool) async throws -> Double {
        guard let took = try await offThePool({ try blockingEventually(seconds: seconds, condition) }) else {
            throw TestFailure("not within \(seconds)s: \(what)")
        }
        return took
    }

    /// Waits for `condition`, failing with `what`; returns the seconds it took.
    @discardableResult
    private func within(_ seconds: Double, _ what: String, _ condition: () async throws -> Bool) async throws -> Double {
        guard let took = try await eventually(seconds: seconds, condition) else { throw TestFailure("not within \(seconds)s: \(what)") }
        return took
    }

    /// Redis, a proxy in front of it, Lookout watching through the proxy, a subscriber on
    /// `watched` (direct), and a first message counted.
    private func setUp() async throws -> (RedisServer, FaultProxy, InProcessLookout, TestConnection, TestConnection, String) {
        let redis = try RedisServer()
        let proxy = try FaultProxy(upstreamPort: redis.port)
        let source = "redis://127.0.0.1:\(proxy.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--no-db", "--redis", source])
        try await within(15, "ready") { try await lookout.get("/readyz").status == 200 }
        let subscriber = try TestConnection(port: redis.port)
        _ = try await subscriber.call("SUBSCRIBE", "watched")
        let publisher = try TestConnection(port: redis.port)
        _ = try await publisher.call("PUBLISH", "watched", "first")
        try await within(15, "the first message and its subscriber") {
            try await metric(lookout, #"lookout_channel_subscribers{channel="watched"}"#) == 1
        }
        return (redis, proxy, lookout, subscriber, publisher, source)
    }

    @Test func aBlackholedSubscriptionIsNoticedAndRecoveredWithinTenSeconds() async throws {
        let (redis, proxy, lookout, _, publisher, source) = try await setUp()
        defer { redis.stop(); proxy.close() }
        try await proxy.blackhole(matching: "lookout-monitor")
        let noticed = try await timed(bound + 5, "source down") {
            try metricNow(lookout, "lookout_source_up{source=\"\(source)\"}") == 0
        }
        let readiness = try await lookout.get("/readyz")
        #expect(readiness.status == 503)
        #expect(readiness.body.contains(source), "/readyz names the source: \(readiness.body)")
        #expect(noticed <= bound, "noticed \(noticed) s after the link went silent")
        print("blackholed subscription: source down after \(noticed) s")

        // Published while Lookout cannot see: lost to it, inside the recorded gap.
        for i in 0..<5 { _ = try await publisher.call("PUBLISH", "watched", "unseen \(i)") }
        try await proxy.pass()
        let recovered = try await timed(bound + 5, "counting again") {
            _ = try publisher.call("PUBLISH", "after", "x")
            return try metricNow(lookout, #"lookout_channel_messages_total{channel="after"}"#) ?? 0 >= 1
        }
        #expect(recovered <= bound, "counting again \(recovered) s after the link came back")
        print("blackholed subscription: counting again after \(recovered) s")
        try await within(5, "source up") { try await metric(lookout, "lookout_source_up{source=\"\(source)\"}") == 1 }
        #expect(try await metric(lookout, "lookout_source_gap_seconds_total{source=\"\(source)\"}") ?? 0 >= 5, "the gap runs from when the link fell silent")
        #expect(try await metric(lookout, "lookout_source_reconnects_total{source=\"\(source)\"}") ?? 0 >= 1)
        #expect(try await lookout.get("/readyz").status == 200)
        try await lookout.stop()
    }

    @Test func aBlackholedPollerMakesTheSourceNotReadyAndJudgesNothingFromStaleCounts() async throws {
        let (redis, proxy, lookout, subscriber, publisher, source) = try await setUp()
        defer { redis.stop(); proxy.close() }
        _ = try await publisher.call("PUBLISH", "nobody", "seen once")
        try await within(15, "nobody polled") {
            try await metric(lookout, #"lookout_channel_subscribers{channel="nobody"}"#) == 0
        }
        try await proxy.blackhole(matching: "lookout-poller")
        let noticed = try await timed(bound + 5, "source not ready") { try readinessNow(lookout).status == 503 }
        #expect(noticed <= bound, "noticed \(noticed) s after the poller's link went silent")
        #expect(try await lookout.get("/readyz").body.contains("no complete poll"))
        #expect(try await metric(lookout, "lookout_source_up{source=\"\(source)\"}") == 0)
        print("blackholed poller: not ready after \(noticed) s")

        // Messages are still seen; a subscriber appears on "nobody" that the poller cannot see:
        // its messages must not be counted as published to nobody.
        let unroutedBefore = try await metric(lookout, #"lookout_channel_unrouted_messages_total{channel="nobody"}"#) ?? 0
        let unjudgedBefore = try await metric(lookout, "lookout_source_unjudged_messages_total{source=\"\(source)\"}") ?? -1
        let late = try TestConnection(port: redis.port)
        _ = try await late.call("SUBSCRIBE", "nobody")
        for i in 0..<20 { _ = try await publisher.call("PUBLISH", "nobody", "m\(i)") }
        try await within(5, "counted while the poller is blind") {
            try await metric(lookout, #"lookout_channel_messages_total{channel="nobody"}"#) ?? 0 >= 21
        }
        #expect(try await metric(lookout, #"lookout_channel_unrouted_messages_total{channel="nobody"}"#) ?? 0 == unroutedBefore,
                "stale counts judge nothing")
        #expect(try await metric(lookout, "lookout_source_unjudged_messages_total{source=\"\(source)\"}") ?? 0 >= unjudgedBefore + 20,
                "what was not judged is counted")
        // Blind past the link timeout, the subscription must still be held: its probes stopped
        // because the poller cannot publish them, not because the subscription lost them.
        try await within(bound, "the poller blind for 6 s") {
            let body = try await lookout.get("/readyz").body
            guard let said = body.range(of: "no complete poll for ") else { return false }
            return Double(body[said.upperBound...].prefix { $0.isNumber || $0 == "." }) ?? 0 >= 6
        }
        #expect(try await metric(lookout, "lookout_source_reconnects_total{source=\"\(source)\"}") == 0, "no false loss of the subscription")

        try await proxy.pass()
        let recovered = try await timed(bound + 5, "ready again") { try readinessNow(lookout).status == 200 }
        #expect(recovered <= bound)
        try await within(5, "the late subscriber counted") {
            try await metric(lookout, #"lookout_channel_subscribers{channel="nobody"}"#) == 1
        }
        _ = subscriber
        try await lookout.stop()
    }

    @Test func aFrozenRedisIsNoticedAndCountedAgainAfterItThaws() async throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let source = "redis://127.0.0.1:\(redis.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--no-db", "--redis", source])
        try await within(15, "ready") { try await lookout.get("/readyz").status == 200 }

        kill(redis.child.pid, SIGSTOP)
        let noticed = try await timed(bound + 5, "source down") {
            try metricNow(lookout, "lookout_source_up{source=\"\(source)\"}") == 0
        }
        #expect(noticed <= bound, "noticed \(noticed) s after SIGSTOP")
        #expect(try await lookout.get("/readyz").status == 503)
        print("frozen redis-server: source down after \(noticed) s")
        // The poller's stale counts may say it first; the subscription must find its link dead too.
        try await within(bound, "the subscription declared dead") {
            try await lookout.get("/readyz").body.contains("the pattern subscription is not held")
        }

        kill(redis.child.pid, SIGCONT)
        let publisher = try TestConnection(port: redis.port)
        let recovered = try await timed(bound + 5, "counting again") {
            _ = try publisher.call("PUBLISH", "thawed", "x")
            return try metricNow(lookout, #"lookout_channel_messages_total{channel="thawed"}"#) ?? 0 >= 1
        }
        #expect(recovered <= bound, "counting again \(recovered) s after SIGCONT")
        print("frozen redis-server: counting again after \(recovered) s")
        try await within(5, "source up") { try await metric(lookout, "lookout_source_up{source=\"\(source)\"}") == 1 }
        #expect(try await metric(lookout, "lookout_source_gap_seconds_total{source=\"\(source)\"}") ?? 0 > 0)
        try await lookout.stop()
    }

    @Test func receiversThatNeverAnswerDelayNoDetection() async throws {
        // A webhook and an Alertmanager that accept connections and never answer.
        let webhook = try WebhookReceiver()
        defer { webhook.stop() }
        let alertmanager = try WebhookReceiver()
        defer { alertmanager.stop() }
        let silentWebhook = try FaultProxy(upstreamPort: webhook.port)
        let silentAlertmanager = try FaultProxy(upstreamPort: alertmanager.port)
        defer { silentWebhook.close(); silentAlertmanager.close() }
        try await silentWebhook.blackhole()
        try await silentAlertmanager.blackhole()
        let lookout = try await InProcessLookout(arguments: [
            "--no-db", "--alert-webhook", "http://127.0.0.1:\(silentWebhook.port)/hook",
            "--alertmanager", "http://127.0.0.1:\(silentAlertmanager.port)",
        ])
        let bus = try TestConnection(port: lookout.port)
        _ = try await bus.call("SUBSCRIBE", "lookout:alerts")
        let worker = try heartbeatLoop(port: lookout.port, consumer: "billing-worker-9")
        try await within(10, "the consumer up") {
            try await metric(lookout, #"lookout_consumer_up{consumer="billing-worker-9",group="billing"}"#) == 1
        }
        await worker.stop(signal: SIGKILL)
        let killedAt = TestConnection.now()
        // Down after 3 × 500 ms; the bus hears it as fast as with healthy receivers (≤ 4 × that).
        // Timed where it is read: the test's own task may wait for the pool before it resumes.
        let (message, heard) = try await offThePool { (try bus.readValues(1, timeoutSeconds: 10)[0], TestConnection.now() - killedAt) }
        #expect(message.elements?.last?.string?.contains(#""alertname":"LookoutConsumerDown""#) == true)
        #expect(heard <= 4 * 1.5, "the bus heard of the death \(heard) s after the kill")
        #expect(try await metric(lookout, #"lookout_consumer_state{consumer="billing-worker-9",group="billing",state="down"}"#) == 1)
        print("silent receivers: the bus alert came \(heard) s after the kill")

        // Each HTTP attempt times out (5 s) and is retried: two failed attempts per receiver.
        for notifier in ["webhook", "alertmanager"] {
            try await within(20, "\(notifier) retried after a timeout") {
                try await metric(lookout, "lookout_alert_delivery_errors_total{notifier=\"\(notifier)\"}") ?? 0 >= 2
            }
        }
        #expect(webhook.alerts.isEmpty && alertmanager.bodies.isEmpty, "nothing got through the blackhole")

        // The receivers answer again: the retries deliver the alert.
        try await silentWebhook.pass()
        try await silentAlertmanager.pass()
        try await within(30, "delivered once the webhook answers") {
            webhook.alerts.contains { $0.status == "firing" && $0.name == "LookoutConsumerDown" && $0.consumer == "billing-worker-9" }
        }
        try await within(30, "delivered once Alertmanager answers") { !alertmanager.bodies.isEmpty }
        try await lookout.stop()
    }

    @Test func redisRestartedUnderTrafficLosesOnlyWhatWasPublishedInTheGap() async throws {
        let redis = try RedisServer()
        let source = "redis://127.0.0.1:\(redis.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--no-db", "--redis", source])
        try await within(15, "ready") { try await lookout.get("/readyz").status == 200 }
        let port = redis.port
        // A publisher that keeps going through the restart (bounded: 20 s, 4,000 batches),
        // counting what Redis accepted and what it accepted while Lookout was not up.
        let stop = Mutex(false)
        let blind = Mutex(false)
        let publisher = Task.detached { () -> (published: Int, inGap: Int) in
            var connection: TestConnection?
            var published = 0
            var inGap = 0
            let deadline = TestConnection.now() + 20
            for _ in 0..<4000 where !stop.withLock({ $0 }) && TestConnection.now() < deadline {
                if connection == nil { connection = try? TestConnection(port: port) }
                let duringGap = blind.withLock { $0 }
                if let reply = try? await connection?.call("PUBLISH", "traffic", "m"), case .integer = reply {
                    published += 1
                    if duringGap || blind.withLock({ $0 }) { inGap += 1 }
                } else {
                    connection = nil
                    try? await Task.sleep(for: .milliseconds(20))
                }
                try? await Task.sleep(for: .milliseconds(2))
            }
            return (published, inGap)
        }
        try await within(10, "traffic counted") { try await metric(lookout, #"lookout_channel_messages_total{channel="traffic"}"#) ?? 0 >= 100 }
        blind.withLock { $0 = true }
        await redis.stop()
        let restarted = try RedisServer(port: port)
        defer { restarted.stop() }
        let recovered = try await timed(bound + 5, "source up again") {
            try metricNow(lookout, "lookout_source_up{source=\"\(source)\"}") == 1
        }
        blind.withLock { $0 = false }
        try await within(10, "traffic counted after the restart") {
            try await metric(lookout, "lookout_source_reconnects_total{source=\"\(source)\"}") == 1
        }
        let counting = try await metric(lookout, #"lookout_channel_messages_total{channel="traffic"}"#) ?? 0
        try await within(10, "more traffic counted") { try await metric(lookout, #"lookout_channel_messages_total{channel="traffic"}"#) ?? 0 >= counting + 100 }
        stop.withLock { $0 = true }
        let (published, inGap) = await publisher.value
        var counted = 0.0
        try await within(5, "every message outside the gap counted") {
            counted = try await metric(lookout, #"lookout_channel_messages_total{channel="traffic"}"#) ?? 0
            return counted >= Double(published - inGap)
        }
        #expect(counted <= Double(published), "nothing counted twice")
        #expect(try await metric(lookout, "lookout_source_gap_seconds_total{source=\"\(source)\"}") ?? 0 > 0)
        print("redis restarted under traffic: up again after \(recovered) s; published \(published), \(inGap) while Lookout was not up, counted \(Int(counted))")
        try await lookout.stop()
    }
}
