import Foundation
import HTTPServer
import Hummingbird
import HummingbirdTesting
import LookoutCore
import Observations
import Testing

@testable import Monitor

@Suite struct MetricsEndpointTests {
    /// A monitor with its loop running (cancel the task at the end), and the server's dependencies.
    private func makeServer() -> (ObservationQueue, Task<Void, any Error>, LookoutHTTPServer.Dependencies) {
        let queue = ObservationQueue()
        let metrics = MonitorMetrics(version: "test")
        let monitor = ChannelMonitor(queue: queue, metrics: metrics, sources: [])
        return (queue, Task { try await monitor.run() }, .init(metrics: metrics, monitor: monitor))
    }

    @Test func metricsShowPerChannelSeries() async throws {
        let (queue, loop, dependencies) = makeServer()
        defer { loop.cancel() }
        queue.offer(.traffic(channel: "orders", messages: 1, bytes: 12, unrouted: 0, at: 1))
        queue.offer(.traffic(channel: "orders", messages: 1, bytes: 8, unrouted: 1, at: 2))
        queue.offer(.latencies(channel: "orders", samples: [LatencySample(seconds: 0.0003)]))
        let app = Application(router: LookoutHTTPServer.router(dependencies))
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                let text = String(buffer: response.body)
                #expect(text.contains("lookout_channel_messages_total{channel=\"orders\"} 2\n"))
                #expect(text.contains("lookout_channel_bytes_total{channel=\"orders\"} 20\n"))
                #expect(text.contains("lookout_channel_unrouted_messages_total{channel=\"orders\"} 1\n"))
                #expect(text.contains("lookout_channel_delivery_latency_seconds_bucket{channel=\"orders\",le=\"0.00025\"} 0\n"))
                #expect(text.contains("lookout_channel_delivery_latency_seconds_bucket{channel=\"orders\",le=\"0.0005\"} 1\n"))
                #expect(text.contains("lookout_channel_delivery_latency_seconds_count{channel=\"orders\"} 1\n"))
                #expect(text.contains("lookout_build_info{version=\"test\",commit=\"unknown\",swift=\"6."))
                #expect(text.contains("# TYPE lookout_channel_messages_total counter\n"))
            }
        }
    }

    @Test func aScrapeRendersWhatTheMonitorTookInAndAppliesNothingItself() async throws {
        let queue = ObservationQueue()
        let metrics = MonitorMetrics(version: "test")
        let monitor = ChannelMonitor(queue: queue, metrics: metrics, sources: [])
        queue.offer(.traffic(channel: "orders", messages: 1, bytes: 12, unrouted: 0, at: 1))
        let app = Application(router: LookoutHTTPServer.router(.init(metrics: metrics, monitor: monitor)))
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok, "a monitor whose loop is not running is not waited for past the bound")
                #expect(!String(buffer: response.body).contains(#"channel="orders""#), "the scrape does not drain the queue")
            }
            #expect(queue.takenCount == 0)
            let loop = Task { try await monitor.run() }
            defer { loop.cancel() }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("lookout_channel_messages_total{channel=\"orders\"} 1\n"),
                        "with the loop running, a scrape waits for what was queued before it")
            }
        }
    }

    @Test func healthReadinessAndChannelsAPI() async throws {
        let (queue, loop, dependencies) = makeServer()
        defer { loop.cancel() }
        queue.offer(.traffic(channel: "b", messages: 1, bytes: 3, unrouted: 1, at: 5))
        queue.offer(.traffic(channel: "a", messages: 1, bytes: 1, unrouted: 0, at: 6))
        var notReady = dependencies
        notReady.sourcesNotReady = { ["redis://127.0.0.1:6379"] }
        let app = Application(router: LookoutHTTPServer.router(dependencies))
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/api/v1/channels", method: .get) { response in
                #expect(response.headers[.contentType] == "application/json")
                let channels = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [[String: Any]])
                #expect(channels.map { $0["channel"] as? String } == ["a", "b"])
                #expect(channels.map { $0["unrouted"] as? Int } == [0, 1])
                #expect(channels.first?["last_message_at"] as? String == "1970-01-01T00:00:06.000Z")
                #expect(Set(channels.first?.keys.map { $0 } ?? []) == [
                    "channel", "messages", "messages_per_second", "bytes", "unrouted", "subscribers", "latency_p99_seconds",
                    "last_message_at", "bytes_per_second", "pattern_subscribers", "consumption_unknown",
                ], "the CLI's channel fields, then bytes_per_second and pattern consumption")
                #expect(channels.map { $0["consumption_unknown"] as? Bool } == [false, false])
            }
            try await client.execute(uri: "/api/v1/alerts", method: .get) { response in
                #expect(response.status == .serviceUnavailable, "no database, no history")
                #expect(String(buffer: response.body).contains(#""error""#))
            }
        }
        try await Application(router: LookoutHTTPServer.router(notReady)).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body) == "not ready: redis://127.0.0.1:6379\n")
            }
        }
    }
}
