import Foundation
import LookoutCore
import LookoutTestSupport
import Observations
import Prometheus
import Testing

@testable import RedisSources

/// The Redis source on its own against a real redis-server: what it hands the monitor.
@Suite struct RedisSourceTests {
    /// Every observation the source queues, until `condition` holds over all of them.
    private func observations(from queue: ObservationQueue, until condition: ([Observation]) -> Bool) async -> [Observation] {
        var seen: [Observation] = []
        _ = await eventually(seconds: 15) {
            seen += queue.drain().observations
            return condition(seen)
        }
        return seen
    }

    private func traffic(_ observations: [Observation], on channel: String) -> (messages: Int, unrouted: Int) {
        observations.reduce(into: (0, 0)) { sum, observation in
            if case .traffic(channel, let messages, _, let unrouted, _, _) = observation {
                sum.0 += messages
                sum.1 += unrouted
            }
        }
    }

    @Test func countsMessagesHandsOverHeartbeatsAndStopsWhenAsked() async throws {
        let redis = try RedisServer()
        let url = try #require(RedisURL("redis://127.0.0.1:\(redis.port)"))
        let queue = ObservationQueue()
        let source = RedisSource(configuration: .init(url: url), queue: queue, registry: PrometheusCollectorRegistry())
        let running = startOnServiceThreads { try await source.run() }
        // Generous: at the start of a clean-clone run every suite starts at once on two cores.
        #expect(await eventually(seconds: 30) { await source.isConnected } != nil)

        let publisher = try RedisConnection(url, clientName: nil)
        for i in 0..<3 { _ = try publisher.command(["PUBLISH", "orders", "o\(i)"]) }
        _ = try publisher.command(["PUBLISH", "lookout:heartbeat", #"{"v":1,"consumer":"w1"}"#])
        let seen = await observations(from: queue) { traffic($0, on: "orders").messages == 3 && $0.contains { if case .heartbeat = $0 { true } else { false } } }
        #expect(traffic(seen, on: "orders").messages == 3)
        #expect(!seen.contains { if case .traffic("lookout:probe", _, _, _, _, _) = $0 { true } else { false } }, "probes are not traffic")

        source.stop()
        try await running.value
        #expect(await source.isConnected == false)
    }

    @Test func aWrongPasswordIsAClearErrorNotAConnection() throws {
        let redis = try RedisServer(extraArguments: ["--requirepass", "s3cret"])
        let url = try #require(RedisURL("redis://:nope@127.0.0.1:\(redis.port)"))
        #expect(throws: RedisConnectionError.self) { try RedisConnection(url, clientName: "lookout-test") }
        do {
            _ = try RedisConnection(url, clientName: "lookout-test")
        } catch {
            #expect("\(error)".contains("AUTH to redis://127.0.0.1:\(redis.port): WRONGPASS"), "\(error)")
        }
    }
}
