import Foundation
import LookoutCore
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
