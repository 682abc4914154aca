import Foundation
import Testing

@testable import LookoutCore

@Suite struct ConsumerAlertRulesTests {
    private func change(_ from: ConsumerStateMachine.State, _ to: ConsumerStateMachine.State, at: Double) -> HeartbeatTracker.ConsumerTransition {
        .init(consumer: "w1", group: "billing", transition: .init(from: from, to: to, reason: "because", at: at))
    }

    @Test func downFiresAndUpResolves() {
        var rules = ConsumerAlertRules()
        #expect(rules.alerts(for: change(.up, .late, at: 7)).isEmpty)
        let fired = rules.alerts(for: change(.late, .down, at: 15))
        #expect(fired.count == 1)
        #expect(fired[0].name == "LookoutConsumerDown")
        #expect(fired[0].status == .firing)
        #expect(fired[0].labels == ["alertname": "LookoutConsumerDown", "consumer": "w1", "group": "billing", "severity": "critical", "source": "lookout"])
        #expect(fired[0].annotations == ["summary": "Consumer w1 is down", "description": "because"])
        #expect(rules.active.count == 1)
        let resolved = rules.alerts(for: change(.down, .up, at: 30))
        #expect(resolved.count == 1)
        #expect(resolved[0].status == .resolved)
        #expect(resolved[0].endsAt == Date(timeIntervalSince1970: 30))
        #expect(resolved[0].startsAt == Date(timeIntervalSince1970: 15))
        #expect(resolved[0].fingerprint == fired[0].fingerprint)
        #expect(rules.active.isEmpty)
    }

    @Test func stalledThenDownSwapsTheAlert() {
        var rules = ConsumerAlertRules()
        #expect(rules.alerts(for: change(.up, .stalled, at: 60)).map(\.name) == ["LookoutConsumerStalled"])
        let next = rules.alerts(for: change(.stalled, .down, at: 80))
        #expect(next.map(\.name) == ["LookoutConsumerStalled", "LookoutConsumerDown"])
        #expect(next.map(\.status) == [.resolved, .firing])
    }

    @Test func aGoodbyeResolvesAndLateAloneNeverFires() {
        var rules = ConsumerAlertRules()
        _ = rules.alerts(for: change(.late, .down, at: 15))
        #expect(rules.alerts(for: change(.down, .stopped, at: 20)).map(\.status) == [.resolved])
        #expect(rules.alerts(for: change(.up, .late, at: 30)).isEmpty)
    }
}

@Suite struct HeartbeatTrackerTests {
    @Test func badHeartbeatsChangeNothing() {
        var tracker = HeartbeatTracker()
        _ = tracker.receive(Array(#"{"v":1,"consumer":"w1","interval_ms":1000}"#.utf8), at: 0)
        #expect(tracker.receive(Array(#"{"v":1,"consumer":"w1","interval_ms":"x"}"#.utf8), at: 0.5) == .failure(.wrongType))
        #expect(tracker.evaluate(now: 3).map(\.transition.to) == [.down], "the bad heartbeat did not count as a beat")
    }

    @Test func consumersAreCapped() {
        var tracker = HeartbeatTracker(maxConsumers: 2)
        for name in ["a", "b", "c"] { _ = tracker.receive(Array("{\"v\":1,\"consumer\":\"\(name)\"}".utf8), at: 0) }
        #expect(tracker.consumers.map(\.consumer) == ["a", "b"])
        #expect(tracker.refusedConsumers == 1)
    }

    @Test func trafficOnServedChannelsFeedsTheStallCheck() {
        var tracker = HeartbeatTracker()
        let beat = Array(#"{"v":1,"consumer":"w1","interval_ms":5000,"channels":["orders.*"],"processed":5}"#.utf8)
        _ = tracker.receive(beat, at: 0)
        var stalled: [String] = []
        for t in stride(from: 5.0, through: 70, by: 5) {
            tracker.noteMessage(on: "orders.created", at: t - 1)
            _ = tracker.receive(beat, at: t)
            stalled += tracker.evaluate(now: t + 0.1).filter { $0.transition.to == .stalled }.map(\.consumer)
        }
        #expect(stalled == ["w1"])
    }
}

@Suite struct NamedConnectionTests {
    @Test func aNamedSubscriberThatVanishesIsDownAfterTheGrace() {
        var tracker = HeartbeatTracker()
        #expect(tracker.namedConnection("mailer", subscribed: true, at: 0, reason: "") == nil)
        #expect(tracker.evaluate(now: 3600).isEmpty, "no heartbeats are expected from it")
        let gone = tracker.namedConnection("mailer", subscribed: false, at: 3600, reason: "closed")
        #expect(gone?.transition.to == .late)
        #expect(gone?.transition.kind == .away)
        #expect(gone?.transition.reason == "closed; down unless it subscribes again within 5s")
        #expect(tracker.evaluate(now: 3604.9).isEmpty)
        let down = tracker.evaluate(now: 3605)
        #expect(down.map(\.transition.to) == [.down])
        #expect(down.first?.transition.reason == "subscribed connection did not return within 5s")
        // Back, and up once the connection has held for the grace.
        #expect(tracker.namedConnection("mailer", subscribed: true, at: 3620, reason: "") == nil)
        #expect(tracker.evaluate(now: 3624.9).isEmpty)
        #expect(tracker.evaluate(now: 3625).map(\.transition.to) == [.up])
    }

    @Test func heartbeatsTakePrecedence() {
        var tracker = HeartbeatTracker()
        _ = tracker.receive(Array(#"{"v":1,"consumer":"w"}"#.utf8), at: 0)
        #expect(tracker.namedConnection("w", subscribed: false, at: 1, reason: "closed") == nil)
    }
}

@Suite struct GroupHealthTests {
    private func beat(_ name: String) -> [UInt8] { Array("{\"v\":1,\"consumer\":\"\(name)\",\"group\":\"mail\",\"interval_ms\":1000}".utf8) }

    @Test func degradedThenDownThenHealthy() {
        var tracker = HeartbeatTracker()
        _ = tracker.receive(beat("a"), at: 0)
        _ = tracker.receive(beat("b"), at: 0)
        _ = tracker.receive(beat("b"), at: 2)
        _ = tracker.evaluate(now: 3)  // a is down (3 × 1 s), b is fine
        #expect(tracker.updateGroups(at: 3).map(\.to) == [.degraded])
        _ = tracker.evaluate(now: 5)  // b down too
        let down = tracker.updateGroups(at: 5)
        #expect(down.map(\.to) == [.down])
        #expect(down.first?.reason == "2 of 2 consumers down")
        var rules = ConsumerAlertRules()
        #expect(rules.alerts(for: down[0]).map(\.name) == ["LookoutGroupDown"])
        for t in [6.0, 6.5] {
            _ = tracker.receive(beat("a"), at: t)
            _ = tracker.receive(beat("b"), at: t)
        }
        let healthy = tracker.updateGroups(at: 7)
        #expect(healthy.map(\.to) == [.healthy])
        #expect(rules.alerts(for: healthy[0]).map(\.status) == [.resolved])
    }
}

@Suite struct ConditionAlertsTests {
    private let channel = ConditionAlerts.Condition(labels: ["alertname": "LookoutChannelWithoutConsumers", "channel": "orders"],
                                                    summary: "s", description: "d")

    @Test func firesAfterTheHoldAndResolvesWhenItClears() {
        var alerts = ConditionAlerts(holdFor: 30)
        #expect(alerts.update(active: [channel], now: 0).isEmpty)
        #expect(alerts.update(active: [channel], now: 29).isEmpty)
        let fired = alerts.update(active: [channel], now: 30)
        #expect(fired.map(\.status) == [.firing])
        #expect(alerts.update(active: [channel], now: 60).isEmpty, "fires once")
        #expect(alerts.update(active: [], now: 61).map(\.status) == [.resolved])
    }

    @Test func aBlipShorterThanTheHoldNeverFires() {
        var alerts = ConditionAlerts(holdFor: 30)
        #expect(alerts.update(active: [channel], now: 0).isEmpty)
        #expect(alerts.update(active: [], now: 10).isEmpty)
        #expect(alerts.update(active: [channel], now: 20).isEmpty)
        #expect(alerts.update(active: [channel], now: 45).isEmpty, "the clock restarted at 20")
        #expect(alerts.update(active: [channel], now: 50).count == 1)
    }
}
