import Foundation
import RESP
import Testing
import LookoutTestSupport

/// The JSON API of a real Lookout with traffic, a consumer and a database: every endpoint, its
/// 404s and 400s.
@Suite(.serialized) struct APITests {
    private func json(_ lookout: InProcessLookout, _ path: String) async throws -> (status: Int, value: Any?) {
        let (status, body) = try await lookout.get(path)
        return (status, try? JSONSerialization.jsonObject(with: Data(body.utf8)))
    }

    @Test func everyEndpointAnswersWithTheCLIsFields() async throws {
        let lookout = try await InProcessLookout()
        let subscriber = try TestConnection(port: lookout.port)
        _ = try await subscriber.call("SUBSCRIBE", "orders.created")
        let publisher = try TestConnection(port: lookout.port)
        for index in 0..<25 { _ = try await publisher.call("PUBLISH", "orders.created", "order \(index)") }
        _ = try await publisher.call("PUBLISH", "lookout:heartbeat", #"{"v":1,"consumer":"billing-1","group":"billing","interval_ms":60000,"processed":7}"#)
        // One beat and silence: late after 0.3 s, down after 0.6 s, and an alert.
        _ = try await publisher.call("PUBLISH", "lookout:heartbeat", #"{"v":1,"consumer":"billing-2","group":"billing","interval_ms":200}"#)

        // Live: the channel and the consumer at once.
        let channels = try await eventually { () async throws -> Bool in
            let list = try await json(lookout, "/api/v1/channels").value as? [[String: Any]] ?? []
            return list.contains { $0["channel"] as? String == "orders.created" && $0["messages"] as? Int == 25 }
        }
        #expect(channels != nil)
        let consumers = try await json(lookout, "/api/v1/consumers").value as? [[String: Any]] ?? []
        #expect(consumers.first { $0["consumer"] as? String == "billing-1" }?["state"] as? String == "up")
        #expect(consumers.first?["processed"] as? Int == 7)
        let sources = try await json(lookout, "/api/v1/sources").value as? [[String: Any]] ?? []
        #expect(sources.count == 1)
        #expect(sources.first?["source"] as? String == "relay" && sources.first?["up"] as? Bool == true)
        #expect(sources.first?["reconnects"] as? Int == 0)

        // History, once the writer has flushed (every second).
        var total = 0
        let recorded = try await eventually { () async throws -> Bool in
            let (status, value) = try await json(lookout, "/api/v1/channels/orders.created?since=5m&step=1s")
            total = (value as? [[String: Any]] ?? []).compactMap { $0["messages"] as? Int }.reduce(0, +)
            return status == 200 && total == 25
        }
        #expect(recorded != nil, "history sums to what was published (\(total))")
        let consumer = try await json(lookout, "/api/v1/consumers/billing-1")
        #expect(consumer.status == 200)
        let steady = try #require(consumer.value as? [String: Any])
        #expect(steady["consumer"] as? String == "billing-1" && steady["group"] as? String == "billing" && steady["state"] as? String == "up")
        #expect(steady["processed"] as? Int == 7 && steady["interval_seconds"] as? Double == 60)
        #expect((steady["transitions"] as? [Any])?.isEmpty == true, "no state change for a consumer that stayed up")

        // The silent one: its two state changes with their reasons, and its alert, as recorded.
        var changes: [[String: Any]] = []
        let recordedChanges = try await eventually { () async throws -> Bool in
            changes = (try await json(lookout, "/api/v1/consumers/billing-2").value as? [String: Any])?["transitions"] as? [[String: Any]] ?? []
            return changes.last?["to"] as? String == "down"
        }
        #expect(recordedChanges != nil, "\(changes)")
        // up → late → down, or up → down when the first check came after 3 intervals (a loaded machine).
        let path = [changes.first?["from"] as? String] + changes.map { $0["to"] as? String }
        #expect(path == ["up", "late", "down"] || path == ["up", "down"], "\(changes)")
        #expect(changes.allSatisfy { $0["consumer"] as? String == "billing-2" && $0["group"] as? String == "billing" && $0["kind"] as? String == "change" })
        #expect((changes.last?["reason"] as? String)?.hasPrefix("no heartbeat for") == true, "\(changes)")
        var alerts: [[String: Any]] = []
        let recordedAlert = try await eventually { () async throws -> Bool in
            alerts = try await json(lookout, "/api/v1/alerts?since=1h").value as? [[String: Any]] ?? []
            return alerts.contains { $0["alert"] as? String == "LookoutConsumerDown" }
        }
        #expect(recordedAlert != nil, "\(alerts)")
        let down = alerts.first { $0["alert"] as? String == "LookoutConsumerDown" }
        #expect(down?["status"] as? String == "firing" && down?["subject"] as? String == "billing-2", "\(alerts)")
        #expect((down?["labels"] as? [String: Any])?["consumer"] as? String == "billing-2")
        #expect((down?["summary"] as? String)?.contains("billing-2") == true)
        #expect(alerts.allSatisfy { ($0["labels"] as? [String: Any])?["consumer"] as? String != "billing-1" }, "nothing about the steady one")

        // Unknown names and bad parameters.
        for path in ["/api/v1/channels/nobody.here", "/api/v1/consumers/nobody", "/api/v1/nothing"] {
            let answer = try await json(lookout, path)
            #expect(answer.status == 404, "\(path)")
            #expect((answer.value as? [String: Any])?["error"] is String, "\(path)")
        }
        for path in ["/api/v1/channels/orders.created?since=yesterday", "/api/v1/channels/orders.created?step=0.5s",
                     "/api/v1/alerts?since=1h&until=2h", "/api/v1/consumers/billing-1?since=soon"] {
            let answer = try await json(lookout, path)
            #expect(answer.status == 400, "\(path)")
            #expect((answer.value as? [String: Any])?["error"] is String, "\(path)")
        }
        // A name with characters that need encoding.
        _ = try await publisher.call("PUBLISH", "user:1/events", "x")
        let encoded = try await eventually { try await lookout.get("/api/v1/channels/user%3A1%2Fevents?since=5m").status == 200 }
        #expect(encoded != nil)
        try await lookout.stop()
    }

    @Test func aRedisSourceShowsItsProbeRoundTrip() async throws {
        let redis = try RedisServer()
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--no-db", "--redis", "redis://127.0.0.1:\(redis.port)"])
        var sources: [[String: Any]] = []
        let probed = try await eventually { () async throws -> Bool in
            sources = try await json(lookout, "/api/v1/sources").value as? [[String: Any]] ?? []
            return sources.first?["probe_roundtrip_seconds"] is Double || sources.first?["probe_roundtrip_seconds"] is Int
        }
        #expect(probed != nil, "\(sources)")
        #expect(sources.first?["source"] as? String == "redis://127.0.0.1:\(redis.port)")
        #expect(try await json(lookout, "/api/v1/alerts").status == 503, "no database, no alert history")
        try await lookout.stop()
    }
}
