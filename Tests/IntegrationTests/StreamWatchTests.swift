import Foundation
import RESP
import LookoutCore
import Reports
import Testing
import LookoutTestSupport

/// Redis Streams consumer groups watched on a real redis-server (7.0): lag, pending, ages,
/// poison entries, entries trimmed before a group read them, lag Redis cannot compute, and
/// streams that vanish or change type mid-watch.
@Suite(.serialized) struct StreamWatchTests {
    private func sample(_ metrics: String, _ series: String) -> Double? { MonitorIntegrationTests.sample(metrics, series) }

    @Test func groupsOnARealRedis() async throws {
        let redis = try RedisServer()
        let source = "redis://127.0.0.1:\(redis.port)"
        let client = try TestConnection(port: redis.port)
        // Set up off the concurrency pool (a thousand round trips would hold one of its threads).
        let ids = try await offThePool { () throws -> [String] in
            var ids: [String] = []
            for index in 0..<1_000 {
                guard let id = try client.call("XADD", "orders", "*", "n", "\(index)").string else { throw TestFailure("XADD") }
                ids.append(id)
            }
            for group in ["fast", "slow"] { _ = try client.call("XGROUP", "CREATE", "orders", group, "0") }
            _ = try client.call("XREADGROUP", "GROUP", "fast", "f1", "COUNT", "1000", "NOACK", "STREAMS", "orders", ">")
            _ = try client.call("XREADGROUP", "GROUP", "slow", "s1", "COUNT", "90", "NOACK", "STREAMS", "orders", ">")
            // A consumer that reads 10 and never acknowledges them; one of them is claimed 6 times.
            _ = try client.call("XREADGROUP", "GROUP", "slow", "stuck", "COUNT", "10", "STREAMS", "orders", ">")
            for _ in 0..<6 { _ = try client.call("XCLAIM", "orders", "slow", "stuck", "0", ids[95]) }
            // Another stream, deleted later; a key of another type that matches.
            _ = try client.call("XADD", "orders.audit", "*", "n", "1")
            _ = try client.call("SET", "orders.total", "12")
            return ids
        }
        #expect(try await client.call("XINFO", "GROUPS", "orders").elements?.count == 2)

        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let startedAt = Date().timeIntervalSince1970
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source, "--stream", "orders*", "--stream-interval", "200ms",
                                                             "--stream-dead-after", "1s", "--alert-webhook", receiver.url])
        func metrics() async -> String { (try? await lookout.get("/metrics").body) ?? "" }
        func group(_ name: String) -> String { #"{source="\#(source)",stream="orders",group="\#(name)"}"# }

        let seen = await eventually(seconds: 30) { sample(await metrics(), "lookout_stream_group_lag_entries" + group("slow")) == 900 }
        var text = await metrics()
        #expect(seen != nil, "\(text.split(separator: "\n").filter { $0.contains("stream") }.prefix(40))")
        #expect(sample(text, "lookout_stream_length" + #"{source="\#(source)",stream="orders"}"#) == 1_000)
        #expect(sample(text, "lookout_stream_group_lag_entries" + group("fast")) == 0)
        #expect(sample(text, "lookout_stream_group_lag_known" + group("slow")) == 1)
        #expect(sample(text, "lookout_stream_group_pending_entries" + group("slow")) == 10)
        #expect(sample(text, "lookout_stream_group_poison_entries" + group("slow")) == 1, "delivered 7 times")
        #expect(sample(text, "lookout_stream_group_poison_entries" + group("fast")) == 0)
        #expect(sample(text, "lookout_stream_group_oldest_unread_age_seconds" + group("fast")) == 0)
        let entry101 = Double(try #require(ids[100].split(separator: "-").first.flatMap { Double($0) })) / 1000
        let unreadAge = try #require(sample(text, "lookout_stream_group_oldest_unread_age_seconds" + group("slow")))
        // Measured at a poll made after Lookout started and before this scrape: entry 101's age
        // at some moment between the two.
        let ageNow = Date().timeIntervalSince1970 - entry101
        #expect(unreadAge <= ageNow + 0.01 && unreadAge >= startedAt - entry101 - 0.01,
                "the age of entry 101: \(unreadAge); \(startedAt - entry101) when Lookout started, \(ageNow) now")
        #expect(sample(text, "lookout_stream_consumer_pending_entries" + #"{source="\#(source)",stream="orders",group="slow",consumer="stuck"}"#) == 10)
        #expect(sample(text, "lookout_stream_length" + #"{source="\#(source)",stream="orders.audit"}"#) == 1)
        func consumer(_ group: String, _ name: String) -> String { #"{source="\#(source)",stream="orders",group="\#(group)",consumer="\#(name)"}"# }
        let dead = await eventually(seconds: 30) { sample(await metrics(), "lookout_stream_consumer_dead" + consumer("slow", "stuck")) == 1 }
        #expect(dead != nil, "10 pending, idle past streams.dead_after")
        text = await metrics()
        #expect(sample(text, "lookout_stream_consumer_dead" + consumer("fast", "f1")) == 0, "idle with nothing pending is only idle")
        #expect(sample(text, "lookout_stream_consumer_dead" + consumer("slow", "s1")) == 0)
        // In the consumer model: down after the reconnect grace, one alert.
        let stuck = #"consumer="orders/slow/stuck",group="orders/slow""#
        let down = await eventually(seconds: 30) { (await metrics()).contains("lookout_consumer_state{\(stuck),state=\"down\"} 1") }
        text = await metrics()
        #expect(down != nil, "\(text.split(separator: "\n").filter { $0.hasPrefix("lookout_consumer_state{") && $0.hasSuffix(" 1") })")
        #expect(text.contains(#"lookout_consumer_state{consumer="orders/fast/f1",group="orders/fast",state="up"} 1"#))
        let listed = try JSONSerialization.jsonObject(with: Data(try await lookout.get("/api/v1/consumers").body.utf8)) as? [[String: Any]] ?? []
        #expect(listed.first { $0["consumer"] as? String == "orders/slow/stuck" }?["kind"] as? String == "stream", "\(listed)")
        let fired = await eventually(seconds: 30) { receiver.alerts.contains { $0.status == "firing" && $0.name == "LookoutConsumerDown" } }
        #expect(fired != nil)
        #expect(receiver.alerts.filter { $0.name == "LookoutConsumerDown" }.map(\.consumer) == ["orders/slow/stuck"])
        #expect(!text.contains(#"stream="orders.total""#), "a key of another type is not a stream")
        #expect(sample(text, "lookout_stream_watched_streams" + #"{source="\#(source)"}"#) == 2)

        // The same through the API and `lookout streams`.
        let api = try await lookout.get("/api/v1/streams")
        let groups = try #require(Reports.streamGroups(json: Data(api.body.utf8)), "\(api.body)")
        #expect(groups.map { "\($0.stream)/\($0.group)" } == ["orders/fast", "orders/slow"])
        let slow = try #require(groups.first { $0.group == "slow" })
        #expect(slow.lag == 900 && slow.pending == 10 && slow.poison == 1)
        let url = "http://127.0.0.1:\(lookout.metricsPort)"
        let csv = try await runCommand(try LookoutProcess.binary, ["streams", "orders", "--group", "slow", "--format", "csv", "--url", url])
        #expect(csv.status == 0, "\(csv.output)")
        let lines = csv.output.split(whereSeparator: \.isNewline).filter { !$0.allSatisfy(\.isWhitespace) }
        #expect(lines.count == 2 && lines.last?.hasPrefix("\(source),orders,slow,1000,2,10,900,") == true, "\(csv.output)")
        let table = try await runCommand(try LookoutProcess.binary, ["streams", "--url", url])
        #expect(table.output.hasPrefix("STREAM") && table.output.contains("orders"), "\(table.output)")

        // Trimmed while the slow group has 900 unread: 800 of them are gone before it read them.
        #expect(try await client.call("XTRIM", "orders", "MAXLEN", "100") == .integer(900))
        let trimmed = await eventually(seconds: 30) { sample(await metrics(), "lookout_stream_group_trimmed_unread_entries_total" + group("slow")) == 800 }
        text = await metrics()
        #expect(trimmed != nil, "\(text.split(separator: "\n").filter { $0.contains("trimmed") })")
        #expect(sample(text, "lookout_stream_group_trimmed_unread_entries_total" + group("fast")) == 0)
        #expect(sample(text, "lookout_stream_group_lag_entries" + group("slow")) == 100, "what is left, not Redis's 900")
        // A group created at 0 on the trimmed stream: Redis 7 knows its lag (it stands before the
        // first entry, so everything left is unread), and it lost nothing (it did not exist then).
        #expect(try await client.call("XGROUP", "CREATE", "orders", "late", "0") == .simpleString("OK"))
        let late = await eventually(seconds: 30) { sample(await metrics(), "lookout_stream_group_lag_entries" + group("late")) == 100 }
        text = await metrics()
        #expect(late != nil)
        #expect(sample(text, "lookout_stream_group_lag_known" + group("late")) == 1)
        #expect(sample(text, "lookout_stream_group_trimmed_unread_entries_total" + group("late")) == 0)
        // A group made in the middle of what is left, and an entry after it deleted: Redis
        // cannot compute its lag, and neither can the ids. The deleted entry is lost to the slow group too.
        #expect(try await client.call("XGROUP", "CREATE", "orders", "mid", ids[909]) == .simpleString("OK"))
        #expect(try await client.call("XDEL", "orders", ids[950]) == .integer(1))
        _ = try await client.call("DEL", "orders.audit")
        let deleted = await eventually(seconds: 30) { sample(await metrics(), "lookout_stream_group_trimmed_unread_entries_total" + group("slow")) == 801 }
        text = await metrics()
        #expect(deleted != nil)
        #expect(sample(text, "lookout_stream_group_lag_entries" + group("slow")) == 99)
        #expect(sample(text, "lookout_stream_group_lag_known" + group("mid")) == 0)
        #expect(sample(text, "lookout_stream_group_lag_entries" + group("mid")) == nil, "unknown is not exported as a number")
        let gone = await eventually(seconds: 30) { !(await metrics()).contains(#"stream="orders.audit""#) }
        #expect(gone != nil, "a deleted stream's series go")

        // Polled again later: the count does not grow from the same hole.
        try await Task.sleep(for: .milliseconds(600))
        #expect(sample(await metrics(), "lookout_stream_group_trimmed_unread_entries_total" + group("slow")) == 801)
        // The stuck consumer reads again and acknowledges what it held: up once that has held
        // for the grace, the alert resolved.
        let read = try await client.call("XREADGROUP", "GROUP", "slow", "stuck", "COUNT", "1", "STREAMS", "orders", ">")
        let readID = try #require(read.elements?.first?.elements?.last?.elements?.first?.elements?.first?.string, "\(read)")
        try client.send(command: (["XACK", "orders", "slow"] + ids[90..<100] + [readID]).map { Array($0.utf8) })
        #expect(try await client.readValues(1).first == .integer(11))
        let resolved = await eventually(seconds: 30) { receiver.alerts.contains { $0.status == "resolved" && $0.name == "LookoutConsumerDown" } }
        #expect(resolved != nil, "a stream consumer that reads again is up")
        #expect(receiver.alerts.filter { $0.name == "LookoutConsumerDown" && $0.status == "firing" }.count == 1, "one alert, no storm")
        try await lookout.stop()

        // The group's figures were kept: `lookout history` reads them from the store.
        let database = try #require(lookout.databasePath)
        let history = try await runCommand(try LookoutProcess.binary, ["history", "orders", "--stream-group", "slow", "--db", database, "--since", "10m",
                                                                       "--step", "1m", "--format", "json"])
        #expect(history.status == 0, "\(history.output)")
        let steps = try #require(try JSONSerialization.jsonObject(with: Data(history.output.utf8)) as? [[String: Any]], "\(history.output)")
        #expect(steps.compactMap { $0["lost_unread"] as? Int }.reduce(0, +) == 801, "every entry lost, once: \(history.output)")
        #expect(steps.compactMap { $0["lag"] as? Int }.max() == 900)
        #expect(steps.compactMap { $0["poison"] as? Int }.max() == 1)
        #expect(steps.compactMap { $0["dead_consumers"] as? Int }.max() == 1)
        let unknown = try await runCommand(try LookoutProcess.binary, ["history", "orders", "--stream-group", "nobody", "--db", database])
        #expect(unknown.status != 0 && unknown.output.contains("no recorded group 'nobody'"), "\(unknown.output)")
    }

    @Test func everyPrimarysStreamsFromOneSeed() async throws {
        let cluster = try await RedisCluster.start()
        var streams: [String] = []
        for node in cluster.nodes {
            let key = try cluster.channel(on: node, prefix: "orders.")
            let client = try TestConnection(port: node.port)
            try await offThePool {
                for index in 0..<10 { _ = try client.call("XADD", key, "*", "n", "\(index)") }
                _ = try client.call("XGROUP", "CREATE", key, "g", "0")
                _ = try client.call("XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "NOACK", "STREAMS", key, ">")
            }
            streams.append(key)
        }
        let source = "redis://127.0.0.1:\(cluster.nodes[0].port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source, "--stream", "orders.*", "--stream-interval", "200ms"])
        func metrics() async -> String { (try? await lookout.get("/metrics").body) ?? "" }
        let lags = { (text: String) in streams.map { self.sample(text, #"lookout_stream_group_lag_entries{source="\#(source)",stream="\#($0)",group="g"}"#) } }
        let seen = await eventually(seconds: 20) { lags(await metrics()) == [5, 5, 5] }
        let text = await metrics()
        #expect(seen != nil, "\(lags(text))")
        #expect(sample(text, #"lookout_stream_watched_streams{source="\#(source)"}"#) == 3, "each stream once")
        #expect(sample(text, #"lookout_stream_poll_errors_total{source="\#(source)"}"#) == 0, "no MOVED: each read on its primary")
        try await lookout.stop()
    }

    /// The rights the README lists: the sidecar's user plus the streams line.
    @Test func theReadmesStreamRightsAreEnough() async throws {
        let redis = try RedisServer()
        let admin = try TestConnection(port: redis.port)
        for rules in [RedisACLTests.aclRules, ["~orders*", "+scan", "+xinfo", "+xpending", "+xrange"]] {
            try admin.send(command: (["ACL", "SETUSER", "lookout"] + rules).map { Array($0.utf8) })
            #expect(try await admin.readValues(1).first == .simpleString("OK"))
        }
        for index in 0..<3 { _ = try await admin.call("XADD", "orders", "*", "n", "\(index)") }
        _ = try await admin.call("XGROUP", "CREATE", "orders", "g", "0")
        _ = try await admin.call("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "orders", ">")
        _ = try await admin.call("SET", "secret", "x")
        let source = "redis://127.0.0.1:\(redis.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", "redis://lookout:lookout-secret@127.0.0.1:\(redis.port)",
                                                             "--no-db", "--stream", "orders*", "--stream-interval", "200ms"])
        func metrics() async -> String { (try? await lookout.get("/metrics").body) ?? "" }
        let group = #"{source="\#(source)",stream="orders",group="g"}"#
        let seen = await eventually(seconds: 30) { sample(await metrics(), "lookout_stream_group_lag_entries" + group) == 2 }
        let text = await metrics()
        #expect(seen != nil, "\(text.split(separator: "\n").filter { $0.contains("lookout_stream") })")
        #expect(sample(text, "lookout_stream_group_pending_entries" + group) == 1)
        #expect(sample(text, "lookout_stream_group_oldest_pending_age_seconds" + group) != nil)
        #expect(sample(text, #"lookout_stream_poll_errors_total{source="\#(source)"}"#) == 0, "no command refused")
        try await lookout.stop()
    }

    /// What an operator does about a dead consumer — deletes it once its entries are claimed —
    /// and other ways things go: a group destroyed, a stream replaced by a key of another type.
    @Test func aDeletedConsumerADestroyedGroupAndAKeyOfAnotherTypeLeaveNothingBehind() async throws {
        let redis = try RedisServer()
        let source = "redis://127.0.0.1:\(redis.port)"
        let client = try TestConnection(port: redis.port)
        try await offThePool {
            for stream in ["jobs", "jobs.old"] {
                for index in 0..<5 { _ = try client.call("XADD", stream, "*", "n", "\(index)") }
                _ = try client.call("XGROUP", "CREATE", stream, "g", "0")
                _ = try client.call("XREADGROUP", "GROUP", "g", "stuck", "COUNT", "2", "STREAMS", stream, ">")
            }
        }
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source, "--stream", "jobs*", "--stream-interval", "200ms",
                                                             "--stream-dead-after", "1s", "--alert-webhook", receiver.url])
        func metrics() async -> String { (try? await lookout.get("/metrics").body) ?? "" }
        func state(_ stream: String) -> String { #"lookout_consumer_state{consumer="\#(stream)/g/stuck",group="\#(stream)/g",state=""# }
        let down = await eventually(seconds: 30) { let text = await metrics(); return ["jobs", "jobs.old"].allSatisfy { text.contains(state($0) + #"down"} 1"#) } }
        let states = await metrics()
        #expect(down != nil, "\(states.split(separator: "\n").filter { $0.hasPrefix("lookout_consumer_state{") && $0.hasSuffix(" 1") })")
        let fired = await eventually(seconds: 30) { receiver.alerts.filter { $0.status == "firing" && $0.name == "LookoutConsumerDown" }.count == 2 }
        #expect(fired != nil)

        // The dead one is deleted (with the entries it held): it said goodbye.
        #expect(try await client.call("XGROUP", "DELCONSUMER", "jobs", "g", "stuck") == .integer(2))
        // The other stream's group is destroyed, and the stream then replaced by a string.
        #expect(try await client.call("XGROUP", "DESTROY", "jobs.old", "g") == .integer(1))
        let stopped = await eventually(seconds: 30) { let text = await metrics(); return ["jobs", "jobs.old"].allSatisfy { text.contains(state($0) + #"stopped"} 1"#) } }
        var text = await metrics()
        #expect(stopped != nil, "\(text.split(separator: "\n").filter { $0.hasPrefix("lookout_consumer_state{") && $0.hasSuffix(" 1") })")
        let resolved = await eventually(seconds: 30) {
            ["LookoutConsumerDown", "LookoutGroupDown"].allSatisfy { name in receiver.alerts.filter { $0.status == "resolved" && $0.name == name }.count == 2 }
        }
        #expect(resolved != nil, "a consumer deleted from its group, or gone with its group, is not down")
        #expect(!text.contains(#"stream="jobs.old",group="g""#), "a destroyed group's series go")
        #expect(!text.contains(#"stream="jobs",group="g",consumer="stuck""#), "a deleted consumer's series go")
        _ = try await client.call("DEL", "jobs.old")
        _ = try await client.call("SET", "jobs.old", "not a stream any more")
        let replaced = await eventually(seconds: 30) { !(await metrics()).contains(#"stream="jobs.old""#) }
        text = await metrics()
        #expect(replaced != nil)
        #expect(sample(text, #"lookout_stream_group_consumers{source="\#(source)",stream="jobs",group="g"}"#) == 0, "the other stream is still read")
        #expect(sample(text, #"lookout_stream_watched_streams{source="\#(source)"}"#) == 1)
        #expect(receiver.alerts.filter { $0.status == "firing" }.map(\.name).sorted() == ["LookoutConsumerDown", "LookoutConsumerDown", "LookoutGroupDown", "LookoutGroupDown"],
                "nothing else fired")
        try await lookout.stop()
    }

    @Test func aStreamsGlobThatIsNotOneIsAKeyedError() async throws {
        let result = try await runCommand(try LookoutProcess.binary, ["serve", "--no-relay", "--redis", "redis://127.0.0.1:1", "--stream", "orders[", "--no-db"])
        #expect(result.status == 2)
        #expect(result.output.contains("--stream"), "\(result.output)")
        let relayOnly = try await runCommand(try LookoutProcess.binary, ["serve", "--stream", "orders", "--no-db"])
        #expect(relayOnly.status == 2)
        #expect(relayOnly.output.contains("streams are read from Redis"), "\(relayOnly.output)")
    }
}
