import Alerting
import Foundation
import LookoutCore
import Prometheus
import Testing
import LookoutTestSupport

/// The Alertmanager API notifier's re-sends, against a local HTTP endpoint.
@Suite struct AlertmanagerNotifierTests {
    /// (alertname, has endsAt) of every alert POSTed, in order.
    private func posted(_ receiver: WebhookReceiver) -> [(String, Bool)] {
        receiver.bodies.flatMap { data -> [(String, Bool)] in
            let alerts = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
            return alerts.map { (($0["labels"] as? [String: String])?["alertname"] ?? "", $0["endsAt"] != nil) }
        }
    }

    @Test func firingAlertsAreResentAndResolvedOnesRepeatedThenDropped() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let notifier = HTTPNotifier(url: "http://127.0.0.1:\(receiver.port)/", format: .alertmanager,
                                    registry: PrometheusCollectorRegistry(), resendInterval: .milliseconds(200))
        let running = Task { try await notifier.run() }
        defer { running.cancel() }
        var alert = Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": "w1"], annotations: [:], startsAt: Date())
        notifier.send(alert)
        // Generous deadlines: on a loaded 2-core machine the notifier's task may wait for a thread.
        #expect(try await until(seconds: 30) { posted(receiver).filter { !$0.1 }.count >= 3 }, "sent, then re-sent every 200 ms")
        alert.endsAt = Date()
        notifier.send(alert)
        #expect(try await until(seconds: 30) { posted(receiver).filter(\.1).count >= 4 }, "the resolution, then three repeats")
        let settled = posted(receiver)
        try await Task.sleep(for: .seconds(1))
        #expect(posted(receiver).filter(\.1).count == 4, "resolved alerts are repeated three times only")
        #expect(posted(receiver).filter { !$0.1 }.count == settled.filter { !$0.1 }.count, "no firing re-sends after the resolution")
    }

    private func until(seconds: Double, _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}
