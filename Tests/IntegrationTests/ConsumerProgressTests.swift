#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RESP
import Store
import Testing
import LookoutTestSupport

/// Consumer progress end to end: missed messages, lagging, restarts, and reconnects that are not deaths.
@Suite(.serialized) struct ConsumerProgressTests {
    private func sample(_ metrics: String, _ series: String) -> Double? { MonitorIntegrationTests.sample(metrics, series) }

    /// A named subscriber leaves, 50 messages pass on its channel, it subscribes again within the grace.
    /// `watchers`: receivers of every message besides the worker (Lookout's `PSUBSCRIBE *` on Redis).
    /// The grace is a minute: Lookout runs on threads of its own and keeps judging while this
    /// test waits for a turn on a concurrency pool that every suite shares, so a shorter grace
    /// can run out between two steps of the test on a busy machine.
    private func missedWhileAway(lookoutArguments: [String], watchers: Int, port: (InProcessLookout) -> Int) async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: lookoutArguments + ["--alert-webhook", receiver.url, "--reconnect-grace", "60s"])
        let busPort = port(lookout)
        let publisher = try TestConnection(port: busPort)
        let series = #"{consumer="mailer-7",group=""}"#
        func metrics() async -> String { (try? await lookout.get("/metrics").body) ?? "" }

        #expect(await eventually { (try? await lookout.get("/readyz").status) == 200 } != nil, "Lookout watches before anything is published")
        var worker = try TestConnection(port: busPort)
        _ = try await worker.call("CLIENT", "SETNAME", "mailer-7")
        _ = try await worker.call("SUBSCRIBE", "mail")
        // One message while it listens: on Redis this makes the channel one whose subscribers are counted.
        #expect(try await publisher.call("PUBLISH", "mail", "before") == .integer(Int64(1 + watchers)))
        #expect(await eventually { await metrics().contains(#"lookout_consumer_state{consumer="mailer-7",group="",state="up"} 1"#) } != nil)
        let counted = await eventually { sample(await metrics(), #"lookout_channel_subscribers{channel="mail"}"#) == 1 }
        let mailSeries = await metrics().split(separator: "\n").filter { $0.contains("mail") }
        #expect(counted != nil, "\(mailSeries)")

        worker.close()
        #expect(await eventually { await metrics().contains(#"lookout_consumer_state{consumer="mailer-7",group="",state="late"} 1"#) } != nil,
                "the departure is seen")
        let receivers = try await offThePool { try (0..<50).map { try publisher.call("PUBLISH", "mail", "away \($0)") } }
        #expect(receivers.allSatisfy { $0 == .integer(Int64(watchers)) })
        worker = try TestConnection(port: busPort)
        _ = try await worker.call("CLIENT", "SETNAME", "mailer-7")
        _ = try await worker.call("SUBSCRIBE", "mail")
        let returned = await eventually(seconds: 30) {
            let text = await metrics()
            return sample(text, "lookout_consumer_reconnects_total" + series) == 1 && text.contains(#"lookout_consumer_state{consumer="mailer-7",group="",state="up"} 1"#)
        }
        #expect(returned != nil, "the return is a reconnect")
        #expect(sample(await metrics(), "lookout_consumer_missed_messages_total" + series) == 50)
        worker.close()
        try await lookout.stop()
        #expect(receiver.alerts.isEmpty, "a return within the grace fires nothing")
    }

    @Test func missedMessagesOnTheRelay() async throws {
        try await missedWhileAway(lookoutArguments: [], watchers: 0, port: { $0.port })
    }

    @Test func missedMessagesOnRedis() async throws {
        let redis = try RedisServer()
        try await missedWhileAway(lookoutArguments: ["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)"], watchers: 1, port: { _ in redis.port })
    }

    /// A named subscriber that stops reading: its unread output shows on its consumer's gauge
    /// before the output buffer limit cuts it off.
    private func unreadOutputIsNamed(lookoutArguments: [String], port: (InProcessLookout) -> Int) async throws {
        let lookout = try await InProcessLookout(arguments: lookoutArguments)
        #expect(await eventually { (try? await lookout.get("/readyz").status) == 200 } != nil)
        let busPort = port(lookout)
        let sleeper = try TestConnection(port: busPort)
        _ = try await sleeper.call("CLIENT", "SETNAME", "sleepy-1")
        _ = try await sleeper.call("SUBSCRIBE", "bulk")
        let payload = String(repeating: "x", count: 10_000)
        try await offThePool {
            let publisher = try TestConnection(port: busPort)
            // 12 MB: past what loopback sockets absorb, under the 32 MB hard limit.
            for _ in 0..<1_200 { _ = try publisher.call("PUBLISH", "bulk", payload) }
        }
        let series = #"lookout_consumer_output_buffer_bytes{consumer="sleepy-1",group=""}"#
        var unread = 0.0
        _ = await eventually {
            unread = sample((try? await lookout.get("/metrics").body) ?? "", series) ?? 0
            return unread > 1_000_000
        }
        print("unread output of a subscriber that stopped reading: \(Int(unread)) bytes")
        #expect(unread > 1_000_000)
        sleeper.close()
        try await lookout.stop()
    }

    @Test func unreadOutputOnTheRelay() async throws {
        try await unreadOutputIsNamed(lookoutArguments: [], port: { $0.port })
    }

    @Test func unreadOutputOnRedis() async throws {
        let redis = try RedisServer()
        try await unreadOutputIsNamed(lookoutArguments: ["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)"], port: { _ in redis.port })
    }

    /// Publishes a heartbeat for `consumer` on `connection`.
    /// Heartbeats are promised every 2 s (sent more often): a loaded machine must not make them late.
    private func beat(_ connection: TestConnection, _ consumer: String, interval: Int = 2_000, _ fields: String) throws {
        _ = try connection.call("PUBLISH", "lookout:heartbeat",
                                #"{"v":1,"consumer":"\#(consumer)","group":"workers","interval_ms":\#(interval),"channels":["work"],\#(fields)}"#)
    }

    @Test func aConsumerThatProcessesHalfOfWhatItReceivesIsLagging() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: ["--alert-webhook", receiver.url, "--lag-window", "4s"])
        let (lagging, unprocessed) = try await offThePool { () throws -> (Bool, Int) in
            let publisher = try TestConnection(port: lookout.port)
            let subscriber = try TestConnection(port: lookout.port)
            _ = try subscriber.call("SUBSCRIBE", "work")
            var received = 0
            let deadline = TestConnection.now() + 8
            // 20 messages a second for 8 s; a heartbeat every 10 messages (0.5 s) saying half is done.
            for index in 0..<160 where TestConnection.now() < deadline {
                _ = try publisher.call("PUBLISH", "work", "job \(index)")
                _ = try subscriber.readValues(1)
                received += 1
                if received % 10 == 0 { try self.beat(publisher, "slow-1", #""received":\#(received),"processed":\#(received / 2)"#) }
                usleep(50_000)
            }
            let metrics = try httpGet(port: lookout.metricsPort, path: "/metrics").body
            return (metrics.contains(#"lookout_consumer_state{consumer="slow-1",group="workers",state="lagging"} 1"#), received - received / 2)
        }
        #expect(lagging, "a backlog that grew at every heartbeat for the 4 s window")
        let lag = sample(try await lookout.get("/metrics").body, #"lookout_consumer_lag_messages{consumer="slow-1",group="workers"}"#) ?? 0
        #expect(lag >= Double(unprocessed - 10), "lag \(lag), left unprocessed \(unprocessed) (one heartbeat may be in flight)")
        #expect(await eventually { receiver.alerts.contains { $0.name == "LookoutConsumerLagging" && $0.status == "firing" } } != nil)
        try await lookout.stop()
    }

    @Test func aCounterThatDropsIsOneRestartAndTheConsumerStaysUp() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: ["--alert-webhook", receiver.url])
        try await offThePool {
            let connection = try TestConnection(port: lookout.port)
            for processed in [200, 200, 200, 5, 6, 7, 8] {
                try self.beat(connection, "restarting-1", #""processed":\#(processed)"#)
                usleep(300_000)
            }
        }
        let metrics = try await lookout.get("/metrics").body
        #expect(sample(metrics, #"lookout_consumer_restarts_total{consumer="restarting-1",group="workers"}"#) == 1)
        #expect(metrics.contains(#"lookout_consumer_state{consumer="restarting-1",group="workers",state="up"} 1"#))
        try await lookout.stop()
        #expect(receiver.alerts.isEmpty)
    }
}

/// 20 named subscribers that reconnect every 0.5–3 s for a minute (a deploy, a pool recycling its
/// connections): reconnects and missed messages are counted, no alert fires, and the log stays short.
@Suite(.serialized) struct ReconnectStormTests {
    @Test func reconnectingSubscribersFireNoAlert() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try LookoutProcess(arguments: ["--no-db", "--alert-webhook", receiver.url])
        // A minute of load beside the other suites: yield the CPU to their timing-sensitive tests.
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(lookout.child.pid), 10)
        let startupLines = lookout.child.output().split(separator: "\n").count
        let (relayPort, metricsPort) = (lookout.port, lookout.metricsPort)
        struct Subscriber {
            var connection: TestConnection?
            var nextChange: Double
            var missedByTest = 0
        }
        let outcome = try await onOwnThread { () throws -> (reconnects: Int, missedAtMost: Int) in
            var rng = SystemRandomNumberGenerator()
            let publisher = try TestConnection(port: relayPort)
            func connect(_ index: Int) throws -> TestConnection {
                let connection = try TestConnection(port: relayPort)
                _ = try connection.call("CLIENT", "SETNAME", "pool-\(index)")
                _ = try connection.call("SUBSCRIBE", "jobs.\(index)")
                return connection
            }
            let start = TestConnection.now()
            var subscribers = try (0..<20).map { index in
                Subscriber(connection: try connect(index), nextChange: start + Double.random(in: 0.5...3, using: &rng))
            }
            var reconnects = 0
            // Bounded: one minute, at most 600 rounds of 100 ms (20 messages each: light enough to run beside the other suites).
            for _ in 0..<600 where TestConnection.now() - start < 60 {
                let now = TestConnection.now()
                for index in subscribers.indices where now >= subscribers[index].nextChange {
                    if let connection = subscribers[index].connection {
                        connection.close()
                        subscribers[index].connection = nil
                        subscribers[index].nextChange = now + Double.random(in: 0.1...0.4, using: &rng)  // the blip
                    } else {
                        subscribers[index].connection = try connect(index)
                        subscribers[index].nextChange = now + Double.random(in: 0.5...3, using: &rng)
                        reconnects += 1
                    }
                }
                for index in subscribers.indices {
                    _ = try publisher.call("PUBLISH", "jobs.\(index)", "job")
                    if subscribers[index].connection == nil { subscribers[index].missedByTest += 1 }
                }
                // Drain what the subscribers received, so no output buffer grows.
                for subscriber in subscribers { _ = try subscriber.connection?.readValues(1) }
                usleep(100_000)
            }
            for index in subscribers.indices where subscribers[index].connection == nil {
                subscribers[index].connection = try connect(index)
                reconnects += 1
            }
            return (reconnects, subscribers.map(\.missedByTest).reduce(0, +))
        }
        func total(_ name: String, in metrics: String) -> Double {
            metrics.split(separator: "\n").filter { $0.hasPrefix(name + "{") }.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        }
        var metrics = ""
        // The monitor drains its queue every 10 ms: wait for the last returns to be counted.
        _ = await eventually {
            metrics = (try? await offThePool { try httpGet(port: metricsPort, path: "/metrics").body }) ?? ""
            return total("lookout_consumer_reconnects_total", in: metrics) >= Double(outcome.reconnects - 20)
        }
        func total(_ name: String) -> Double { total(name, in: metrics) }
        let reconnects = total("lookout_consumer_reconnects_total")
        let missed = total("lookout_consumer_missed_messages_total")
        print("reconnect storm: \(outcome.reconnects) reconnects made, \(Int(reconnects)) counted; \(Int(missed)) missed messages counted, at most \(outcome.missedAtMost) published while away")
        #expect(reconnects >= Double(outcome.reconnects - 20) && reconnects <= Double(outcome.reconnects), "every return within the grace is a reconnect")
        #expect(missed > 0.8 * Double(outcome.missedAtMost) && missed <= Double(outcome.missedAtMost), "messages published while away are missed")
        #expect(!metrics.contains(#"state="down"} 1"#), "no consumer is down")
        #expect(receiver.alerts.isEmpty, "no alert: \(receiver.alerts.map(\.name))")
        let logLines = lookout.child.output().split(separator: "\n").count - startupLines
        print("reconnect storm: \(logLines) log lines in a minute")
        #expect(logLines <= 20, "reconnects are logged at a bounded rate:\n\(lookout.child.output().suffix(3_000))")
    }
}

/// Redis goes away under three consumers: Lookout says so once (LookoutSourceDown), and their
/// silence is not judged while their heartbeats cannot be seen; a consumer beating through
/// another Redis that dies at the same moment is judged as ever (the sentinel: by the time it is
/// down, the others have been silent as long). Nothing is sent for the consumers that merely
/// could not be seen.
@Suite(.serialized) struct SourceOutageTests {
    @Test func aLostRedisFiresOneAlertNotOnePerConsumer() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        var redis = try RedisServer()
        let port = redis.port
        let other = try RedisServer()
        let lookout = try await InProcessLookout(arguments: [
            "--no-relay", "--redis", "redis://127.0.0.1:\(port)", "--redis", "redis://127.0.0.1:\(other.port)",
            "--alert-webhook", receiver.url, "--alert-hold", "1s",
        ])
        // Down 6 s after their last heartbeat: well after Lookout notices the closed connection.
        let consumers = try (1...3).map { try heartbeatLoop(port: port, consumer: "billing-\($0)", intervalMilliseconds: 2_000) }
        defer { for consumer in consumers { consumer.stop(signal: SIGKILL) } }
        let sentinel = try heartbeatLoop(port: other.port, consumer: "audit-1", intervalMilliseconds: 2_000)
        defer { sentinel.stop(signal: SIGKILL) }
        func metrics() async -> String { (try? await lookout.get("/metrics").body) ?? "" }
        func state(_ consumer: String, _ state: String) async -> Bool {
            await metrics().contains(#"lookout_consumer_state{consumer="\#(consumer)",group="billing",state="\#(state)"} 1"#)
        }
        #expect(await eventually { await metrics().components(separatedBy: #",state="up"} 1"#).count == 5 } != nil, "four consumers up")
        // Seen up by the monitor's health check (once a second) first: a source that never was
        // up is starting, not lost.
        #expect(await eventually { (try? await lookout.get("/readyz").status) == 200 } != nil)
        try await Task.sleep(for: .seconds(2))

        await redis.stop()
        await sentinel.stop(signal: SIGKILL)
        #expect(await eventually(seconds: 20) { await state("audit-1", "down") } != nil, "the sentinel, beating through the Redis still there, is down")
        for consumer in ["billing-1", "billing-2", "billing-3"] {
            #expect(await state(consumer, "up"), "\(consumer) is not judged while its heartbeats cannot be seen")
        }
        #expect(await eventually { receiver.alerts.contains { $0.name == "LookoutSourceDown" && $0.status == "firing" } } != nil)
        #expect(!receiver.alerts.contains { $0.name == "LookoutConsumerDown" || $0.name == "LookoutGroupDown" },
                "consumer alerts are held while a source is down: \(receiver.alerts.map { "\($0.name) \($0.consumer) \($0.status)" })")

        redis = try RedisServer(port: port)
        defer { redis.stop() }
        #expect(await eventually { receiver.alerts.contains { $0.name == "LookoutSourceDown" && $0.status == "resolved" } } != nil)
        // Past the 1 s settle the held alert that is still true (the sentinel's) is sent: by
        // then anything held for the others would have been sent with it.
        #expect(await eventually { receiver.alerts.contains { $0.name == "LookoutConsumerDown" && $0.consumer == "audit-1" } } != nil)
        #expect(!receiver.alerts.contains { $0.name == "LookoutConsumerDown" && $0.consumer.hasPrefix("billing") },
                "\(receiver.alerts.map { "\($0.name) \($0.consumer)" })")
        #expect(!receiver.alerts.contains { $0.name == "LookoutGroupDown" })
        for consumer in ["billing-1", "billing-2", "billing-3"] { #expect(await state(consumer, "up")) }
        try await lookout.stop()
        let store = try StoreReader(path: try #require(lookout.databasePath))
        let changes = try store.transitions(since: 0, until: Double(Int32.max)).filter { $0.consumer.hasPrefix("billing") }
        #expect(changes.isEmpty, "\(changes.map { "\($0.consumer): \($0.from) → \($0.to) (\($0.reason))" })")
    }
}
