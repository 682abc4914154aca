import Alerting
import Foundation
import Prometheus
import Testing

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
        try await Task.sleep(for: .milliseconds(900))
        let firing = posted(receiver).filter { !$0.1 }.count
        #expect(firing >= 3, "sent once, then re-sent every 200 ms (got \(firing))")
        alert.endsAt = Date()
        notifier.send(alert)
        try await Task.sleep(for: .milliseconds(1500))
        let resolved = posted(receiver).filter(\.1).count
        #expect(resolved == 4, "sent once and repeated three times, then dropped (got \(resolved))")
        let firingAfter = posted(receiver).filter { !$0.1 }.count
        try await Task.sleep(for: .milliseconds(500))
        #expect(posted(receiver).filter { !$0.1 }.count == firingAfter, "no firing re-sends after the resolution")
    }
}
