import Foundation
import Testing
import LookoutTestSupport

/// `lookout serve --demo` makes every kind of series move within a minute.
@Suite struct DemoTests {
    @Test(.timeLimit(.minutes(2)))
    func theDemoPublishesConsumesAndLosesAConsumer() async throws {
        let lookout = try await InProcessLookout(arguments: ["--demo"])
        func metrics() async -> String { (try? await lookout.get("/metrics").body) ?? "" }
        let flowing = await eventually(seconds: 15) {
            let body = await metrics()
            return ["demo.orders", "demo.payments", "demo.audit"].allSatisfy { body.contains(#"lookout_channel_messages_total{channel="\#($0)"}"#) }
                && body.contains(#"lookout_consumer_state{consumer="demo-orders-1",group="demo-orders",state="up"} 1"#)
                && body.contains(#"lookout_consumer_state{consumer="demo-payments-1",group="demo-payments",state="up"} 1"#)
        }
        #expect(flowing != nil, "traffic on the three channels and consumers up")
        let body = await metrics()
        let unrouted = MonitorIntegrationTests.sample(body, #"lookout_channel_unrouted_messages_total{channel="demo.audit"}"#)
        #expect(unrouted != nil, "the series exists")
        #expect((unrouted ?? 0) > 0, "demo.audit is read by nobody: its messages are unrouted")
        // demo-orders-2 dies 45 s after start; down 3 heartbeat intervals (3 s) later.
        let died = await eventually(seconds: 60) {
            await metrics().contains(#"lookout_consumer_state{consumer="demo-orders-2",group="demo-orders",state="down"} 1"#)
        }
        #expect(died != nil, "the dying demo consumer is detected")
        try await lookout.stop()
    }
}
