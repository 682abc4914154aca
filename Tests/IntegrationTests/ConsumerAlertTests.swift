#if canImport(Glibc)
import Glibc
#endif
import RESP
import Testing
import LookoutTestSupport

/// A real consumer process is killed; the webhook hears about it, then about its return (Lookout in process).
@Suite(.serialized) struct ConsumerAlertTests {
    private func scenario(lookoutArguments: [String], publishPort: (InProcessLookout) -> Int) async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: lookoutArguments + ["--alert-webhook", receiver.url])
        let bus = try TestConnection(port: publishPort(lookout))
        _ = try await bus.call("SUBSCRIBE", "lookout:alerts")
        var worker = try heartbeatLoop(port: publishPort(lookout), consumer: "billing-worker-1")
        let seen = await eventually(seconds: 10) {
            (try? await lookout.get("/metrics").body.contains(#"lookout_consumer_up{consumer="billing-worker-1",group="billing"} 1"#)) == true
        }
        #expect(seen != nil, "the consumer's heartbeats were seen")

        let killedAt = TestConnection.now()
        await worker.stop(signal: SIGKILL)
        // Down after 3 × 500 ms of silence. Measured from the kill to the webhook's arrival (on
        // the receiver's own thread, not when this task next looked), with headroom for a
        // loaded 2-core machine: at most 4 × that (exact timing is the manual-clock tests' job).
        let seenFiring = await eventually(seconds: 20) { receiver.alerts.contains { $0.status == "firing" && $0.name == "LookoutConsumerDown" } }
        #expect(seenFiring != nil)
        let firedAfter = receiver.firstArrival(status: "firing", name: "LookoutConsumerDown").map { $0 - killedAt }
        if let firedAfter { #expect(firedAfter <= 4 * 1.5, "fired \(firedAfter) s after the kill") }
        print("consumer down alert received \(firedAfter ?? -1) s after the kill")
        #expect(receiver.alerts.first.map { $0.consumer == "billing-worker-1" } == true)
        let busMessage = try await bus.readValues(1)[0]
        #expect(busMessage.elements?.first?.string == "message")
        #expect(busMessage.elements?.last?.string?.contains(#""alertname":"LookoutConsumerDown""#) == true, "the alert is on the bus too")
        let metrics = try await lookout.get("/metrics").body
        #expect(metrics.contains(#"lookout_consumer_state{consumer="billing-worker-1",group="billing",state="down"} 1"#))

        worker = try heartbeatLoop(port: publishPort(lookout), consumer: "billing-worker-1")
        defer { worker.stop(signal: SIGKILL) }
        let resolvedAfter = await eventually(seconds: 10) { receiver.alerts.contains { $0.status == "resolved" && $0.name == "LookoutConsumerDown" } }
        #expect(resolvedAfter != nil, "a resolved alert when the consumer returns")
        #expect(receiver.alerts.filter { $0.status == "firing" && $0.name == "LookoutConsumerDown" }.count == 1, "one firing alert, no storm")
        #expect(receiver.alerts.contains { $0.status == "firing" && $0.name == "LookoutGroupDown" }, "its group's only member is down")
        try await lookout.stop()
    }

    @Test func killedConsumerOnTheRelay() async throws {
        try await scenario(lookoutArguments: [], publishPort: { $0.port })
    }

    @Test func killedConsumerOnRedis() async throws {
        let redis = try RedisServer()
        try await scenario(lookoutArguments: ["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)"], publishPort: { _ in redis.port })
    }
}

/// `lookout heartbeat` as a consumer: seen as up, and a clean goodbye on SIGTERM.
@Suite(.serialized) struct HeartbeatCommandTests {
    @Test func heartbeatCommandIsSeenAndSaysGoodbye() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: ["--alert-webhook", receiver.url])
        let sender = try ChildProcess(try LookoutProcess.binary, [
            "heartbeat", "--consumer", "cli-worker", "--group", "demo", "--interval", "200ms",
            "--channels", "orders.*", "--redis", "redis://127.0.0.1:\(lookout.port)",
        ])
        // The sentinel: a consumer with the same interval that dies without a word.
        let sentinel = try ChildProcess(try LookoutProcess.binary, [
            "heartbeat", "--consumer", "sentinel", "--group", "other", "--interval", "200ms", "--redis", "redis://127.0.0.1:\(lookout.port)",
        ])
        defer { sentinel.stop(signal: SIGKILL) }
        let up = #"lookout_consumer_state{consumer="cli-worker",group="demo",state="up"} 1"#
        let sentinelUp = #"lookout_consumer_state{consumer="sentinel",group="other",state="up"} 1"#
        #expect(try await eventually { let body = try await lookout.get("/metrics").body; return body.contains(up) && body.contains(sentinelUp) } != nil)
        #expect(await sender.stop(signal: SIGTERM) == 0)
        await sentinel.stop(signal: SIGKILL)
        let stopped = #"lookout_consumer_state{consumer="cli-worker",group="demo",state="stopped"} 1"#
        #expect(try await eventually { try await lookout.get("/metrics").body.contains(stopped) } != nil)
        // By the time the sentinel, silent since after the goodbye, is down, a goodbye that
        // turned into "down" would have too.
        let sentinelDown = #"lookout_consumer_state{consumer="sentinel",group="other",state="down"} 1"#
        #expect(try await eventually { try await lookout.get("/metrics").body.contains(sentinelDown) } != nil)
        #expect(try await lookout.get("/metrics").body.contains(stopped))
        #expect(!receiver.alerts.contains { $0.consumer == "cli-worker" || $0.labels["group"] == "demo" }, "a clean goodbye sends no alert: \(receiver.alerts)")
        try await lookout.stop()
    }
}

/// Consumers without heartbeats: a named, subscribed connection that goes away and does not
/// return within the reconnect grace is a failure.
@Suite(.serialized) struct NamedSubscriberTests {
    private func scenario(lookoutArguments: [String], port: (InProcessLookout) -> Int) async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: lookoutArguments + ["--alert-webhook", receiver.url, "--reconnect-grace", "1s"])
        let worker = try TestConnection(port: port(lookout))
        #expect(try await worker.call("CLIENT", "SETNAME", "mailer-1") == .simpleString("OK"))
        _ = try await worker.call("SUBSCRIBE", "mail")
        let up = #"lookout_consumer_up{consumer="mailer-1",group=""} 1"#
        #expect(try await eventually { try await lookout.get("/metrics").body.contains(up) } != nil)
        worker.close()
        await #expect(eventually { receiver.alerts.contains { $0.consumer == "mailer-1" && $0.status == "firing" && $0.name == "LookoutConsumerDown" } } != nil)
        try await lookout.stop()
    }

    @Test func onTheRelay() async throws {
        try await scenario(lookoutArguments: [], port: { $0.port })
    }

    @Test func onRedis() async throws {
        let redis = try RedisServer()
        try await scenario(lookoutArguments: ["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)"], port: { _ in redis.port })
    }
}

/// A channel that carries traffic while nothing consumes it is pushed as an alert of its own.
@Suite(.serialized) struct ChannelWithoutConsumersTests {
    @Test func trafficWithNoSubscriberAlerts() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: ["--alert-webhook", receiver.url, "--alert-hold", "1s"])
        // Lookout's own channels carry traffic with no subscriber too (heartbeats, and the alerts
        // themselves on lookout:alerts): they must never be reported.
        let heartbeats = try ChildProcess(try LookoutProcess.binary, [
            "heartbeat", "--consumer", "hb", "--interval", "200ms", "--redis", "redis://127.0.0.1:\(lookout.port)",
        ])
        defer { heartbeats.stop() }
        let publisher = try TestConnection(port: lookout.port)
        // A wait, not a speed claim (the alert needs about 3 s): ample for a loaded machine.
        let deadline = TestConnection.now() + 30
        var fired = false
        for _ in 0..<300 where !fired && TestConnection.now() < deadline {
            #expect(try await publisher.call("PUBLISH", "orders", "lost") == .integer(0))
            fired = receiver.alerts.contains { $0.name == "LookoutChannelWithoutConsumers" && $0.status == "firing" }
            try await Task.sleep(for: .microseconds(100_000))
        }
        #expect(fired)
        #expect(!receiver.alerts.contains { $0.name == "LookoutChannelWithoutConsumers" && $0.status == "resolved" })
        let subscriber = try TestConnection(port: lookout.port)
        _ = try await subscriber.call("SUBSCRIBE", "orders")
        var resolved = false
        for _ in 0..<100 where !resolved && TestConnection.now() < deadline + 10 {
            _ = try await publisher.call("PUBLISH", "orders", "consumed")
            resolved = receiver.alerts.contains { $0.name == "LookoutChannelWithoutConsumers" && $0.status == "resolved" }
            try await Task.sleep(for: .microseconds(100_000))
        }
        #expect(resolved)
        #expect(receiver.alerts.filter { $0.name == "LookoutChannelWithoutConsumers" }.allSatisfy { $0.labels["channel"] == "orders" })
        try await lookout.stop()
    }
}
