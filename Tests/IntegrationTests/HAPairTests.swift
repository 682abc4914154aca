#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOHTTP1
import RESP
import Testing
import LookoutTestSupport

/// Two Lookouts in one HA group on a real redis-server, as processes: one notifies, the other
/// takes over when it dies or is cut from Redis, and a receiver hears each alert once.
@Suite(.serialized) struct HAPairTests {
    /// Short enough for tests; the default is 10 s.
    private let lease = 3.0
    /// A heartbeat every 500 ms: down after 1.5 s of silence.
    private let detection = 1.5

    private func lookout(_ redisPort: Int, instance: String, group: String = "pair", _ extra: [String]) throws -> LookoutProcess {
        try LookoutProcess(arguments: ["--no-relay", "--redis", "redis://127.0.0.1:\(redisPort)", "--no-db", "--ha-group", group,
                                       "--ha-lease", "\(Int(lease))s", "--ha-instance", instance] + extra)
    }

    private func metric(_ lookout: LookoutProcess, _ series: String) -> Double? {
        (try? lookout.get("/metrics").body).flatMap { MonitorIntegrationTests.sample($0, series) }
    }

    private func leader(_ lookout: LookoutProcess, group: String = "pair") -> Double? {
        metric(lookout, #"lookout_ha_leader{group="\#(group)"}"#)
    }

    @discardableResult
    private func within(_ seconds: Double, _ what: String, _ condition: @escaping @Sendable () throws -> Bool) async throws -> Double {
        guard let took = try await offThePool({ try blockingEventually(seconds: seconds, condition) }) else {
            throw TestFailure("not within \(seconds)s: \(what)")
        }
        return took
    }

    /// `instance` holds the lease, then the standby is started and has read who holds it.
    private func pair(_ redis: RedisServer, _ extraA: [String], _ extraB: [String]) async throws -> (LookoutProcess, LookoutProcess) {
        let a = try lookout(redis.port, instance: "a", extraA)
        try await within(10, "a holds the lease") { leader(a) == 1 }
        let b = try lookout(redis.port, instance: "b", extraB)
        try await within(10, "b stands by, knowing a's token") {
            leader(b) == 0 && metric(b, #"lookout_ha_fencing_token{group="pair"}"#) == 1
        }
        return (a, b)
    }

    private func consumerSeen(_ lookouts: [LookoutProcess], state: String = "up") async throws {
        try await within(10, "every instance sees the consumer \(state)") {
            lookouts.allSatisfy { metric($0, #"lookout_consumer_state{consumer="w1",group="billing",state="\#(state)"}"#) == 1 }
        }
    }

    private func accepted(_ receiver: WebhookReceiver, _ status: String, _ name: String = "LookoutConsumerDown")
        -> [(accepted: Bool, status: String, name: String, consumer: String, fencingToken: Int?)] {
        receiver.deliveries.filter { $0.accepted && $0.status == status && $0.name == name }
    }

    @Test func aKilledConsumerIsAnnouncedOnceByThePairAndOnceByAnotherGroup() async throws {
        let redis = try RedisServer()
        let receiver = try WebhookReceiver()
        let otherReceiver = try WebhookReceiver()
        defer { receiver.stop(); otherReceiver.stop() }
        let bus = try TestConnection(port: redis.port)
        _ = try await bus.call("SUBSCRIBE", "lookout:alerts")
        let (a, b) = try await pair(redis, ["--alert-webhook", receiver.url], ["--alert-webhook", receiver.url])
        let other = try lookout(redis.port, instance: "c", group: "other", ["--alert-webhook", otherReceiver.url, "--alert-channel", ""])
        try await within(10, "c holds its own group's lease") { leader(other, group: "other") == 1 }
        #expect(leader(a) == 1 && leader(b) == 0, "a third instance in another group changes nothing in the pair")

        var worker = try heartbeatLoop(port: redis.port, consumer: "w1")
        try await consumerSeen([a, b, other])
        await worker.stop(signal: SIGKILL)
        try await within(10, "the pair's firing alert") { !accepted(receiver, "firing").isEmpty }
        try await consumerSeen([a, b, other], state: "down")
        try await within(10, "b withheld what a sent") { (metric(b, #"lookout_ha_notifications_withheld_total{group="pair"}"#) ?? 0) >= 1 }
        worker = try heartbeatLoop(port: redis.port, consumer: "w1")
        defer { worker.stop(signal: SIGKILL) }
        try await within(10, "the pair's resolution") { !accepted(receiver, "resolved").isEmpty }
        try await within(10, "the other group's resolution") { !accepted(otherReceiver, "resolved").isEmpty }
        try await Task.sleep(for: .seconds(2))

        for name in ["LookoutConsumerDown", "LookoutGroupDown"] {
            #expect(accepted(receiver, "firing", name).count == 1, "one firing \(name) from the pair: \(receiver.deliveries)")
            #expect(accepted(receiver, "resolved", name).count == 1, "one resolved \(name) from the pair")
            #expect(accepted(otherReceiver, "firing", name).count == 1, "the other group notifies on its own")
            #expect(accepted(otherReceiver, "resolved", name).count == 1)
        }
        #expect(receiver.deliveries.allSatisfy { $0.fencingToken == 1 }, "every send carries the holder's fencing token")
        #expect(receiver.deliveries.count == 4, "nothing else, nothing twice: \(receiver.deliveries)")
        let published = try await bus.readValues(4).compactMap { $0.elements?.last?.string }
        #expect(published.filter { $0.contains(#""status":"firing""#) }.count == 2, "the bus carries each alert once")
        #expect(published.allSatisfy { $0.contains(#""fencingToken":1"#) })
        #expect(throws: (any Error).self, "and nothing more") { try bus.readValues(1, timeoutSeconds: 1) }
        let status = try b.get("/api/v1/notifications").body
        #expect(status.contains(#""notifies" : false"#) && status.contains(#""holder" : "a""#), "\(status)")
        let standBy = "sent by a (group pair, fencing token 1); this instance (b) stands by"
        let frame = try await runCommand(try LookoutProcess.binary, ["top", "--once", "--url", "http://127.0.0.1:\(b.metricsPort)"])
        #expect(frame.output.contains("notifications: " + standBy), "lookout top says who notifies: \(frame.output)")
        let page = try await offThePool { try StatusPageTests.chromium(["--dump-dom"], url: "http://127.0.0.1:\(b.metricsPort)/") }
        #expect(page.contains("notifications " + standBy), "so does the status page")
    }

    @Test func aHolderKilledBeforeDeliveringIsReplacedAndTheAlertSentOnce() async throws {
        let redis = try RedisServer()
        let receiver = try WebhookReceiver(status: .serviceUnavailable)
        defer { receiver.stop() }
        let arguments = ["--alert-webhook", receiver.url, "--alert-channel", ""]
        let (a, b) = try await pair(redis, arguments, arguments)
        let worker = try heartbeatLoop(port: redis.port, consumer: "w1")
        try await consumerSeen([a, b])
        await worker.stop(signal: SIGKILL)
        try await within(10, "a tried to deliver (and was refused)") {
            receiver.deliveries.contains { !$0.accepted && $0.name == "LookoutConsumerDown" && $0.fencingToken == 1 }
        }
        try await consumerSeen([a, b], state: "down")
        await a.child.stop(signal: SIGKILL)
        let killed = TestConnection.now()
        receiver.answer(.ok)
        try await within(lease + detection + 5, "b delivers it") { !accepted(receiver, "firing").isEmpty }
        // From the kill to the delivery's arrival at the receiver, not to when this task looked.
        let arrived = try #require(receiver.firstArrival(status: "firing", name: "LookoutConsumerDown", acceptedOnly: true))
        let took = Duration.seconds(arrived - killed)
        print("holder killed before delivering: the other delivered after \(took)")
        #expect(took <= .seconds(lease + detection + 1), "within the lease and the detection time (and a second's slack): \(took)")
        try await Task.sleep(for: .seconds(2))
        #expect(accepted(receiver, "firing").count == 1, "delivered once: \(receiver.deliveries)")
        #expect(accepted(receiver, "firing").allSatisfy { $0.fencingToken == 2 }, "under the new holder's token")
        #expect(leader(b) == 1)
    }

    @Test func aHolderKilledAfterDeliveringIsNotRepeated() async throws {
        let redis = try RedisServer()
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let arguments = ["--alert-webhook", receiver.url, "--alert-channel", ""]
        let (a, b) = try await pair(redis, arguments, arguments)
        let worker = try heartbeatLoop(port: redis.port, consumer: "w1")
        try await consumerSeen([a, b])
        await worker.stop(signal: SIGKILL)
        try await within(10, "a delivered both alerts") {
            accepted(receiver, "firing").count == 1 && accepted(receiver, "firing", "LookoutGroupDown").count == 1
        }
        let log = try TestConnection(port: redis.port)
        try await within(5, "and logged them") { try log.call("HLEN", "lookout:ha:{pair}:delivered") == .integer(2) }
        await a.child.stop(signal: SIGKILL)
        try await within(lease + 5, "b takes over") { leader(b) == 1 }
        try await Task.sleep(for: .seconds(2))
        #expect(receiver.deliveries.count == 2, "no second delivery: \(receiver.deliveries)")
    }

    @Test func aGracefulStopHandsTheLeaseOverWithinARenewal() async throws {
        let redis = try RedisServer()
        let (a, b) = try await pair(redis, [], [])
        #expect(await a.child.stop(signal: SIGTERM) == 0)
        let took = try await within(lease, "b takes over") { leader(b) == 1 }
        print("holder stopped gracefully: the other took over after \(took) s")
        #expect(took <= lease / 3 + 1, "within a renewal (and a second's slack), not a lease: \(took) s")
        #expect(metric(b, #"lookout_ha_fencing_token{group="pair"}"#) == 2)
    }

    @Test func aHolderCutFromRedisStopsNotifyingAndNeverSendsWithItsStaleToken() async throws {
        let redis = try RedisServer()
        let proxy = try FaultProxy(upstreamPort: redis.port)
        let receiver = try WebhookReceiver()
        defer { receiver.stop(); proxy.close() }
        let arguments = ["--alert-webhook", receiver.url, "--alert-channel", ""]
        let a = try LookoutProcess(arguments: ["--no-relay", "--redis", "redis://127.0.0.1:\(proxy.port)", "--no-db", "--ha-group", "pair",
                                               "--ha-lease", "\(Int(lease))s", "--ha-instance", "a"] + arguments)
        try await within(10, "a holds the lease") { leader(a) == 1 }
        let b = try lookout(redis.port, instance: "b", arguments)
        try await within(10, "b stands by") { leader(b) == 0 }
        let worker = try heartbeatLoop(port: redis.port, consumer: "w1")
        try await consumerSeen([a, b])

        // Only the lease's link is cut: a still watches, judges, and would notify if it did not
        // respect the lease.
        try await proxy.blackhole(matching: "lookout-ha")
        let stopped = try await within(lease + 2, "a stops notifying") { leader(a) == 0 }
        print("holder cut from Redis: stopped notifying after \(stopped) s")
        #expect(stopped <= lease + 1, "within the lease (and a second's slack for the gauge): \(stopped) s")
        try await within(lease + 3, "b takes over") { leader(b) == 1 }

        await worker.stop(signal: SIGKILL)
        try await consumerSeen([a, b], state: "down")
        try await within(10, "b delivers") { !accepted(receiver, "firing").isEmpty }
        try await within(5, "a withheld it") { (metric(a, #"lookout_ha_notifications_withheld_total{group="pair"}"#) ?? 0) >= 1 }

        try await proxy.pass()
        try await within(10, "a learns b holds the lease") { metric(a, #"lookout_ha_fencing_token{group="pair"}"#) == 2 }
        try await Task.sleep(for: .seconds(2))
        #expect(leader(a) == 0)
        #expect(!receiver.deliveries.contains { $0.fencingToken == 1 }, "nothing sent with the stale token: \(receiver.deliveries)")
        #expect(accepted(receiver, "firing").count == 1 && accepted(receiver, "firing", "LookoutGroupDown").count == 1)
    }

    @Test func bothPushingToAlertmanagerMakeOneNotificationPerAlert() async throws {
        let redis = try RedisServer()
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let alertmanager = try await AlertmanagerServer(webhook: receiver.url)
        let arguments = ["--alertmanager", "http://127.0.0.1:\(alertmanager.port)", "--alert-channel", ""]
        let (a, b) = try await pair(redis, arguments, arguments)
        var worker = try heartbeatLoop(port: redis.port, consumer: "w1")
        try await consumerSeen([a, b])
        await worker.stop(signal: SIGKILL)
        try await within(15, "Alertmanager notifies") { !accepted(receiver, "firing").isEmpty }
        try await within(10, "both pushed it") {
            [a, b].allSatisfy { metric($0, #"lookout_alerts_sent_total{notifier="alertmanager",outcome="success"}"#).map { $0 >= 2 } == true }
        }
        worker = try heartbeatLoop(port: redis.port, consumer: "w1")
        defer { worker.stop(signal: SIGKILL) }
        try await within(15, "Alertmanager notifies the resolution") { !accepted(receiver, "resolved").isEmpty }
        try await Task.sleep(for: .seconds(3))
        #expect(accepted(receiver, "firing").count == 1, "one notification for two pushes: \(receiver.deliveries)")
        #expect(accepted(receiver, "resolved").count == 1)
    }
}

/// The lease with only the rights the README lists: the sidecar's user plus the HA line.
@Suite struct HARedisACLTests {
    static let haRules = ["~lookout:ha:*", "+eval", "+get", "+set", "+incr", "+pexpire", "+del", "+hset", "+hdel", "+hgetall"]

    @Test func theReadmesHARightsAreEnough() async throws {
        let redis = try RedisServer()
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let admin = try TestConnection(port: redis.port)
        for rules in [RedisACLTests.aclRules, Self.haRules] {
            try admin.send(command: (["ACL", "SETUSER", "lookout"] + rules).map { Array($0.utf8) })
            #expect(try await admin.readValues(1).first == .simpleString("OK"))
        }
        let lookout = try await InProcessLookout(arguments: [
            "--no-relay", "--redis", "redis://lookout:lookout-secret@127.0.0.1:\(redis.port)", "--no-db", "--ha-group", "pair",
            "--ha-lease", "3s", "--alert-webhook", receiver.url,
        ])
        func metric(_ series: String) async -> Double? {
            (try? await lookout.get("/metrics").body).flatMap { MonitorIntegrationTests.sample($0, series) }
        }
        #expect(await eventually(seconds: 10) { await metric(#"lookout_ha_leader{group="pair"}"#) == 1 } != nil, "the lease is claimed")
        let worker = try heartbeatLoop(port: redis.port, consumer: "w1")
        #expect(await eventually(seconds: 10) {
            await metric(#"lookout_consumer_up{consumer="w1",group="billing"}"#) == 1
        } != nil)
        await worker.stop(signal: SIGKILL)
        let logged = await eventually(seconds: 10) { (try? await admin.call("HLEN", "lookout:ha:{pair}:delivered")) == .integer(4) }
        let deliveries = try? await admin.call("HGETALL", "lookout:ha:{pair}:delivered")
        #expect(logged != nil, "the deliveries (consumer and group down, by the webhook and the bus) are logged: \(String(describing: deliveries))")
        #expect(await metric(#"lookout_ha_lease_errors_total{group="pair"}"#) == 0, "no command refused")
        try await lookout.stop()
        #expect(try await admin.call("EXISTS", "lookout:ha:{pair}:lease") == .integer(0), "the lease is given up on a graceful stop")
        #expect(try await admin.call("GET", "lookout:ha:{pair}:fence").string == "1")
    }
}
