import Alerting
import Foundation
import LookoutCore
import LookoutTestSupport
import Monitor
import NIOCore
import RESP
import Store
import Testing

@testable import LookoutApplication

/// The application as a library: real sockets on port 0, services started together and
/// stopped in reverse dependency order.
@Suite struct LookoutApplicationTests {
    @Test func portZeroBindsAndIsReported() async throws {
        let lookout = try await InProcessLookout(arguments: ["--no-db"])
        #expect(lookout.port > 0 && lookout.metricsPort > 0 && lookout.port != lookout.metricsPort)
        let relay = try TestConnection(port: lookout.port)
        #expect(try await relay.call("PING") == .simpleString("PONG"))
        #expect(try await lookout.get("/healthz").status == 200)
        #expect(lookout.application.store == nil)
        try await lookout.stop()
    }

    @Test func aGracefulStopHandsTheLastTrafficToTheStoreBeforeItCloses() async throws {
        let lookout = try await InProcessLookout()
        let path = try #require(lookout.databasePath)
        let publisher = try TestConnection(port: lookout.port)
        for i in 0..<5 { _ = try await publisher.call("PUBLISH", "orders", "order \(i)") }
        _ = try await publisher.call("PUBLISH", "lookout:heartbeat", #"{"v":1,"consumer":"w1","group":"billing","interval_ms":60000}"#)
        // Stopped at once, before any refresh or flush: the monitor stops before the store, and
        // hands over its open bucket and consumers on the way out.
        try await lookout.stop()
        let reader = try StoreReader(path: path)
        let now = Date().timeIntervalSince1970
        let orders = try reader.channels(since: now - 600, until: now + 60).first { $0.channel == "orders" }
        #expect(orders?.messages == 5)
        #expect(orders?.unrouted == 5, "nobody subscribed")
        #expect(try reader.consumers().map(\.consumer) == ["w1"])
    }

    @Test func aStopWithBusAlertsInFlightEndsWithinItsBoundAndCountsThem() async throws {
        // Alerts queued for the bus while the relay stops: the bus notifier stops after the relay
        // (it is fed by the monitor), so these publishes fail, and are counted, without hanging.
        let lookout = try await InProcessLookout(arguments: ["--no-db"])
        for index in 0..<200 {
            lookout.application.alerts.handle(HeartbeatTracker.ConsumerTransition(
                consumer: "w\(index)", group: "", transition: .init(from: .late, to: .down, reason: "test", at: 0)))
        }
        // A publish that hung would hold the stop until the service group's ceiling and be
        // cancelled before counting: the counts below catch it. The time is bounded by that
        // ceiling, not by an idle machine's figure (0.15 s alone): in a full test run, with a
        // hundred suites starting at once on two cores, this stop has taken 25-45 s.
        let stopping = try await lookout.stop()
        print("a stop with 200 bus alerts in flight took \(stopping)")
        #expect(stopping < lookout.application.gracefulStopCeiling)
        let metrics = String(buffer: lookout.application.metrics.exposition())
        func sent(_ outcome: String) -> Int {
            metrics.split(separator: "\n").first { $0.hasPrefix(#"lookout_alerts_sent_total{notifier="bus",outcome="\#(outcome)"}"#) }
                .flatMap { $0.split(separator: " ").last }.flatMap { Int($0) } ?? -1
        }
        #expect(sent("success") + sent("failure") == 200, "every alert is either published or counted as failed")
    }
}
