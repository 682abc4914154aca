import Foundation
import LookoutCore
import LookoutTestSupport
import NIOHTTP1
import Prometheus
import Synchronization
import Testing

@testable import Alerting

/// The Alertmanager notifier's re-send schedule, on a manual clock against a local endpoint:
/// exact counts, no sleeping.
@Suite struct AlertmanagerResendTests {
    /// (alertname, has endsAt) of every alert POSTed, in order.
    private func posted(_ receiver: WebhookReceiver) -> [(name: String, resolved: Bool)] {
        receiver.bodies.flatMap { data -> [(name: String, resolved: Bool)] in
            let alerts = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
            return alerts.map { (($0["labels"] as? [String: String])?["alertname"] ?? "", $0["endsAt"] != nil) }
        }
    }

    /// Waits until the receiver holds `firing` firing and `resolved` resolved posts, and checks
    /// that no more arrive.
    private func expectPosted(_ receiver: WebhookReceiver, firing: Int, resolved: Int, _ comment: Comment) async {
        let reached = await eventually(seconds: 10) {
            posted(receiver).filter { !$0.resolved }.count >= firing && posted(receiver).filter(\.resolved).count >= resolved
        }
        #expect(reached != nil, comment)
        #expect(posted(receiver).filter { !$0.resolved }.count == firing, comment)
        #expect(posted(receiver).filter(\.resolved).count == resolved, comment)
    }

    @Test func firingAlertsAreResentEveryIntervalAndResolvedOnesThreeTimesMore() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let clock = ManualClock()
        let registry = PrometheusCollectorRegistry()
        let notifier = HTTPNotifier(url: "http://127.0.0.1:\(receiver.port)/", format: .alertmanager, registry: registry,
                                    resendInterval: .seconds(60), clock: clock)
        let running = startOnServiceThreads { try await notifier.run() }
        defer { running.cancel() }
        #expect(await clock.waitForSleepers(1), "the re-send loop waits on the clock")

        var alert = Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": "w1"], annotations: [:],
                          startsAt: Date(timeIntervalSince1970: clock.wallClock()))
        notifier.send(alert)
        await expectPosted(receiver, firing: 1, resolved: 0, "sent at once")
        #expect(await clock.advance(by: .seconds(59)))
        await expectPosted(receiver, firing: 1, resolved: 0, "nothing before the interval")
        #expect(await clock.advance(by: .seconds(1)))
        await expectPosted(receiver, firing: 2, resolved: 0, "re-sent after 60 s")
        #expect(await clock.advance(by: .seconds(120)))
        await expectPosted(receiver, firing: 4, resolved: 0, "and every 60 s")

        alert.endsAt = Date(timeIntervalSince1970: clock.wallClock())
        notifier.send(alert)
        await expectPosted(receiver, firing: 4, resolved: 1, "the resolution at once")
        #expect(await clock.advance(by: .seconds(600)))
        await expectPosted(receiver, firing: 4, resolved: 4, "then three repeats, and no more firing re-sends")
        let metrics = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(metrics.contains(#"lookout_alerts_sent_total{notifier="alertmanager",outcome="success"} 8"#))
    }

    @Test func aFailingReceiverIsRetriedWithBackoffThenCountedAsFailed() async throws {
        let receiver = try WebhookReceiver(status: .internalServerError)
        defer { receiver.stop() }
        let clock = ManualClock()
        let registry = PrometheusCollectorRegistry()
        let deliveries = DeliveryLog()
        let notifier = HTTPNotifier(url: receiver.url, format: .webhook, registry: registry, maxAttempts: 3, clock: clock,
                                    onDelivery: { deliveries.append($0) })
        let running = startOnServiceThreads { try await notifier.run() }
        defer { running.cancel() }
        notifier.send(Alert(labels: ["alertname": "LookoutConsumerDown"], annotations: [:], startsAt: Date()))
        // Attempt 1 gets a 500, then waits 250 ms; attempt 2, 500 ms; attempt 3, and no more.
        #expect(await clock.waitForSleepers(1))
        #expect(receiver.bodies.count == 1 && deliveries.all.isEmpty, "still retrying")
        #expect(await clock.advance(by: .milliseconds(249)))
        #expect(receiver.bodies.count == 1, "not before the backoff")
        #expect(await clock.advance(by: .milliseconds(1)))
        #expect(receiver.bodies.count == 2 && deliveries.all.isEmpty, "still retrying")
        #expect(await clock.advance(by: .milliseconds(500), settleSeconds: 0))
        #expect(await eventually { deliveries.all.count == 1 } != nil)
        #expect(receiver.bodies.count == 3)
        #expect(deliveries.all.first?.outcome == .failure && deliveries.all.first?.attempts == 3)
        let metrics = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(metrics.contains(#"lookout_alerts_sent_total{notifier="webhook",outcome="failure"} 1"#))
    }
}

/// Deliveries reported by a notifier, from any thread.
private final class DeliveryLog: Sendable {
    private let entries = Mutex<[AlertDelivery]>([])
    func append(_ delivery: AlertDelivery) { entries.withLock { $0.append(delivery) } }
    var all: [AlertDelivery] { entries.withLock { $0 } }
}
