import Foundation
import Logging
import LookoutCore
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@testable import Alerting

@Suite struct WebhookBodyTests {
    @Test func alertmanagerWebhookVersion4() throws {
        let alert = Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": "w1"],
                          annotations: ["summary": "Consumer w1 is down"],
                          startsAt: Date(timeIntervalSince1970: 1_764_172_800))
        let body = HTTPNotifier.webhookBody(for: [alert], externalURL: "http://127.0.0.1:9480")
        let json = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect(json["version"] as? String == "4")
        #expect(json["status"] as? String == "firing")
        #expect(json["receiver"] as? String == "lookout")
        #expect(json["groupLabels"] as? [String: String] == ["alertname": "LookoutConsumerDown"])
        #expect(json["commonLabels"] as? [String: String] == alert.labels)
        let entries = try #require(json["alerts"] as? [[String: Any]])
        #expect(entries.count == 1)
        #expect(entries[0]["status"] as? String == "firing")
        #expect(entries[0]["startsAt"] as? String == "2025-11-26T16:00:00.000Z")
        #expect(entries[0]["endsAt"] as? String == "0001-01-01T00:00:00Z")
        #expect(entries[0]["fingerprint"] as? String == alert.fingerprint)
    }
}

@Suite struct NotifierFormatTests {
    private let firing = Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": "w1"], annotations: ["summary": "down"],
                               startsAt: Date(timeIntervalSince1970: 1_764_172_800))

    @Test func alertmanagerAPIBody() {
        var resolved = firing
        resolved.endsAt = Date(timeIntervalSince1970: 1_764_172_860)
        #expect(String(decoding: HTTPNotifier.apiBody(for: [firing, resolved]), as: UTF8.self) == """
            [{"annotations":{"summary":"down"},"labels":{"alertname":"LookoutConsumerDown","consumer":"w1"},\
            "startsAt":"2025-11-26T16:00:00.000Z"},{"annotations":{"summary":"down"},"endsAt":"2025-11-26T16:01:00.000Z",\
            "labels":{"alertname":"LookoutConsumerDown","consumer":"w1"},"startsAt":"2025-11-26T16:00:00.000Z"}]
            """)
    }

    @Test func busMessageIsOneAlert() {
        let json = BusNotifier.json(firing)
        #expect(json.hasPrefix(#"{"annotations":{"summary":"down"},"endsAt":"0001-01-01T00:00:00Z","fingerprint":""#))
        #expect(json.contains(#""status":"firing""#))
    }
}

/// The bus notifier hands what is queued to its publish together, counts each alert's outcome,
/// and publishes what is still queued when it stops.
@Suite struct BusNotifierTests {
    private func alert(_ index: Int) -> Alert {
        Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": "w\(index)"], annotations: [:], startsAt: Date(timeIntervalSince1970: 0))
    }

    private func sent(_ registry: PrometheusCollectorRegistry, _ outcome: String) -> Int {
        String(decoding: registry.emitToBuffer(), as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix(#"lookout_alerts_sent_total{notifier="bus",outcome="\#(outcome)"}"#) }
            .flatMap { $0.split(separator: " ").last }.flatMap { Int($0) } ?? -1
    }

    @Test func aBurstIsPublishedInBatchesInOrderAndEachOutcomeCounted() async throws {
        let registry = PrometheusCollectorRegistry()
        let batches = Mutex<[[String]]>([])
        // Every third payload refused by the bus.
        let notifier = BusNotifier(channel: "lookout:alerts", registry: registry) { payloads in
            let before = batches.withLock { batches in
                defer { batches.append(payloads) }
                return batches.joined().count
            }
            return payloads.indices.map { (before + $0 + 1) % 3 != 0 }
        }
        for index in 0..<600 { notifier.send(alert(index)) }
        // Not running yet: the stop publishes what is queued.
        let group = ServiceGroup(configuration: .init(services: [.init(service: notifier)], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        await group.triggerGracefulShutdown()
        try await running.value
        let published = batches.withLock { $0 }
        #expect(published.map(\.count) == [256, 256, 88], "at most \(BusNotifier.batchLimit) at once")
        let consumers = published.joined().compactMap { payload in
            (try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
                .flatMap { $0["labels"] as? [String: String] }?["consumer"]
        }
        #expect(consumers == (0..<600).map { "w\($0)" }, "in the order sent")
        #expect(sent(registry, "success") == 400 && sent(registry, "failure") == 200)
    }

    @Test func beyondItsCapacityAlertsAreDroppedAndCounted() {
        let registry = PrometheusCollectorRegistry()
        let notifier = BusNotifier(channel: "lookout:alerts", registry: registry) { payloads in payloads.map { _ in true } }
        for index in 0..<(BusNotifier.capacity + 5) { notifier.send(alert(index)) }
        #expect(sent(registry, "dropped") == 5)
    }
}
