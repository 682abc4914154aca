import Foundation
import LookoutTestSupport
import Testing

@testable import LookoutCore

/// Backlog and lagging, restarts, reconnects and missed messages, on a simulated clock.
@Suite struct ConsumerProgressTests {
    private static func configuration(lagWindow: Double = 4) -> ConsumerStateMachine.Configuration {
        var configuration = ConsumerStateMachine.Configuration()
        configuration.lagWindow = lagWindow
        return configuration
    }

    private func beat(received: UInt64? = nil, processed: UInt64? = nil, pending: UInt64? = nil, channels: [String] = []) -> Heartbeat {
        Heartbeat(consumer: "w", interval: 1, channels: channels, processed: processed, received: received, pending: pending)
    }

    /// Heartbeats every second at `start`…`seconds` reporting the backlog `backlog(t)` as `pending`;
    /// evaluates every 0.1 s in between.
    private func replay(_ machine: inout ConsumerStateMachine, seconds: Int, from start: Int = 1,
                        backlog: (Int) -> UInt64) -> [ConsumerStateMachine.Transition] {
        var transitions: [ConsumerStateMachine.Transition] = []
        for t in start...seconds {
            for tenth in 1..<10 { transitions += [machine.evaluate(now: Double(t - 1) + Double(tenth) / 10)].compactMap { $0 } }
            transitions += machine.receive(beat(processed: UInt64(t * 10), pending: backlog(t)), at: Double(t))
        }
        return transitions
    }

    @Test func aConsumerFallingBehindIsLaggingAfterExactlyOneWindow() {
        var machine = ConsumerStateMachine(first: beat(processed: 0, pending: 0), at: 0, configuration: Self.configuration())
        // It receives 20 a second and processes 10: the backlog grows by 10 at every heartbeat.
        let early = replay(&machine, seconds: 3) { UInt64($0 * 10) }
        #expect(early.isEmpty, "3 s of growth is less than the 4 s window")
        let transitions = replay(&machine, seconds: 4, from: 4) { UInt64($0 * 10) }
        #expect(transitions.map(\.to) == [.lagging])
        #expect(transitions.first?.at == 4)
        #expect(transitions.first?.reason == "backlog grew at every heartbeat for 4s (now 40 messages)")
        #expect(machine.progress.lag == 40)
        // Draining resolves it at the first smaller backlog.
        let drained = machine.receive(beat(received: 100, processed: 70), at: 5)
        #expect(drained.map(\.to) == [.up])
        #expect(drained.first?.reason == "backlog shrinking (30 messages)")
    }

    @Test func aBacklogThatSpikesAndDrainsIsNotLagging() {
        var machine = ConsumerStateMachine(first: beat(processed: 0, pending: 0), at: 0, configuration: Self.configuration())
        let spikes: [UInt64] = [0, 500, 900, 1_200, 300, 0, 0, 400, 800, 1_100, 200, 5, 0]
        let transitions = replay(&machine, seconds: spikes.count - 1) { spikes[$0] }
        #expect(transitions.isEmpty, "growth never lasted a whole window")
        // A steady backlog is not growing either.
        var steady = ConsumerStateMachine(first: beat(pending: 50), at: 0, configuration: Self.configuration())
        for t in 1...20 { #expect(steady.receive(beat(pending: 50), at: Double(t)).isEmpty) }
        #expect(steady.progress.lag == 50)
    }

    @Test func theBacklogComesFromPendingThenReceivedThenTheChannelsTraffic() {
        var machine = ConsumerStateMachine(first: beat(received: 100, processed: 60, pending: 7), at: 0)
        #expect(machine.progress.lag == 7, "pending when reported")
        _ = machine.receive(beat(received: 100, processed: 60), at: 1)
        #expect(machine.progress.lag == 40, "else received − processed")
        var declared = ConsumerStateMachine(first: beat(processed: 1_000, channels: ["orders.*"]), at: 0)
        #expect(declared.progress.lag == 0, "the traffic-based backlog starts at its first heartbeat")
        declared.noteTraffic(on: "orders.created", messages: 30, at: 0.5)
        declared.noteTraffic(on: "payments", messages: 99, at: 0.5)
        _ = declared.receive(beat(processed: 1_012, channels: ["orders.*"]), at: 1)
        #expect(declared.progress.lag == 18, "30 published on its channels, 12 processed")
        // The estimate never makes it lagging: it may filter its channels or share them with its group.
        for t in 2...400 {
            declared.noteTraffic(on: "orders.created", messages: 10, at: Double(t) - 0.5)
            #expect(declared.receive(beat(processed: 1_012 + UInt64(t), channels: ["orders.*"]), at: Double(t)).isEmpty)
        }
        #expect(declared.progress.lag ?? 0 > 3_000)
        _ = machine.receive(beat(), at: 2)
        #expect(machine.progress.lag == nil, "nothing to compute it from")
    }

    @Test func aCounterGoingBackwardsIsARestartNotAFailure() {
        var machine = ConsumerStateMachine(first: Heartbeat(consumer: "w", interval: 1, channels: ["c"], processed: 200), at: 0)
        let transitions = machine.receive(Heartbeat(consumer: "w", interval: 1, channels: ["c"], processed: 5), at: 1)
        #expect(transitions.count == 1)
        #expect(transitions.first?.kind == .restart)
        #expect(transitions.first?.reason == "restarted: processed went back from 200 to 5")
        #expect(transitions.first.map { $0.from == .up && $0.to == .up } == true)
        #expect(machine.state == .up)
        #expect(machine.progress.restarts == 1)
        // Beating on, with traffic, it is never judged stalled nor lagging for the jump.
        var later: [ConsumerStateMachine.Transition] = []
        for t in 2...200 {
            machine.noteTraffic(on: "c", messages: 1, at: Double(t) - 0.5)
            later += machine.receive(Heartbeat(consumer: "w", interval: 1, channels: ["c"], processed: 5 + UInt64(t)), at: Double(t))
            later += [machine.evaluate(now: Double(t) + 0.5)].compactMap { $0 }
        }
        #expect(later.isEmpty)
        #expect(machine.receive(beat(received: 10, processed: 300), at: 201).isEmpty, "received appearing is no restart")
        #expect(machine.receive(beat(received: 3, processed: 301), at: 202).map(\.kind) == [.restart])
        #expect(machine.progress.restarts == 2)
    }

    @Test func aNamedConnectionBackWithinTheGraceIsAReconnectWithWhatItMissed() {
        var machine = ConsumerStateMachine(connectionAt: 0)
        let away = machine.connectionClosed(at: 10, reason: "subscribed connection 127.0.0.1:5000 closed",
                                            subscriptions: ConnectionSubscriptions(channels: ["mail"], patterns: ["orders.*"]))
        #expect(away?.kind == .away)
        #expect(machine.state == .late)
        machine.noteTraffic(on: "mail", messages: 3, at: 10.5)
        machine.noteTraffic(on: "orders.created", messages: 4, at: 11)
        machine.noteTraffic(on: "payments", messages: 100, at: 11)
        #expect(machine.evaluate(now: 14.9) == nil)
        let back = machine.connectionOpened(at: 14.9)
        #expect(back?.kind == .reconnect)
        #expect(back?.to == .up)
        #expect(back?.missed == 7)
        #expect(back?.reason == "reconnected after 4.9s, missed 7 messages")
        #expect(machine.progress.reconnects == 1)
        #expect(machine.progress.missed == 7)
        machine.noteTraffic(on: "mail", messages: 5, at: 15)
        #expect(machine.progress.missed == 7, "nothing is missed while subscribed")
        #expect(machine.evaluate(now: 100) == nil)
    }

    @Test func aNamedConnectionThatStaysAwayIsDownAndFlappingStaysDown() {
        var machine = ConsumerStateMachine(connectionAt: 0)
        _ = machine.connectionClosed(at: 10, reason: "closed", subscriptions: ConnectionSubscriptions(channels: ["mail"]))
        #expect(machine.evaluate(now: 14.99) == nil)
        #expect(machine.evaluate(now: 15)?.to == .down)
        machine.noteTraffic(on: "mail", messages: 9, at: 20)
        // Back for 2 s, away again: still down, no new transition.
        #expect(machine.connectionOpened(at: 30) == nil)
        #expect(machine.evaluate(now: 32) == nil)
        #expect(machine.connectionClosed(at: 32, reason: "closed", subscriptions: ConnectionSubscriptions(channels: ["mail"])) == nil)
        machine.noteTraffic(on: "mail", messages: 1, at: 33)
        #expect(machine.connectionOpened(at: 40) == nil)
        #expect(machine.evaluate(now: 44.9) == nil)
        let up = machine.evaluate(now: 45)
        #expect(up?.to == .up)
        #expect(up?.missed == 10, "messages missed over the whole outage")
        #expect(up?.reason == "subscribed connection back and held for 5s, missed 10 messages")
        #expect(machine.progress.reconnects == 0, "an outage longer than the grace is not a reconnect")
    }

    @Test func aDownHeartbeatConsumerMissesItsChannelsTrafficAsItIsPublished() {
        var machine = ConsumerStateMachine(first: Heartbeat(consumer: "w", interval: 1, channels: ["orders.*"]), at: 0)
        machine.noteTraffic(on: "orders.a", messages: 5, at: 1)
        #expect(machine.progress.missed == 0)
        #expect(machine.evaluate(now: 3)?.to == .down)
        machine.noteTraffic(on: "orders.a", messages: 8, at: 4)
        #expect(machine.progress.missed == 8)
        _ = machine.receive(Heartbeat(consumer: "w", interval: 1, channels: ["orders.*"]), at: 5)
        let up = machine.receive(Heartbeat(consumer: "w", interval: 1, channels: ["orders.*"]), at: 6)
        #expect(up.map(\.to) == [.up])
        #expect(up.first?.missed == 8)
    }

    @Test func aConsumerIsKnownByItsHeartbeatsItsConnectionOrItsStreamGroup() {
        var tracker = HeartbeatTracker()
        _ = tracker.namedConnection("mailer", subscribed: true, at: 0, reason: "")
        _ = tracker.namedConnection("orders/g/c1", subscribed: true, at: 0, reason: "", group: "orders/g", kind: .stream)
        _ = tracker.receive(Array(#"{"v":1,"consumer":"w"}"#.utf8), at: 0)
        func kinds() -> [String: ConsumerStateMachine.Kind] { Dictionary(uniqueKeysWithValues: tracker.consumers.map { ($0.consumer, $0.detector.kind) }) }
        #expect(kinds() == ["mailer": .connection, "orders/g/c1": .stream, "w": .heartbeat])
        // A connection's consumer that starts beating is a heartbeat's; a stream consumer's goodbye leaves it a stream's.
        _ = tracker.receive(Array(#"{"v":1,"consumer":"mailer"}"#.utf8), at: 1)
        _ = tracker.receive(Array(#"{"v":1,"consumer":"orders/g/c1","group":"orders/g","state":"stopping"}"#.utf8), at: 1)
        #expect(kinds() == ["mailer": .heartbeat, "orders/g/c1": .stream, "w": .heartbeat])
        #expect(tracker.consumers.first { $0.consumer == "orders/g/c1" }?.state == .stopped)
        // A stream consumer comes back by reading, not by subscribing.
        var streams = HeartbeatTracker()
        _ = streams.namedConnection("s/g/c", subscribed: true, at: 0, reason: "", group: "s/g", kind: .stream)
        let dead = streams.namedConnection("s/g/c", subscribed: false, at: 1, reason: "holds 3 pending entries", group: "s/g", kind: .stream)
        #expect(dead?.transition.reason == "holds 3 pending entries; down unless it reads again within 5s")
    }

    @Test func aHeartbeatConsumersConnectionCountsReconnectsButLeavesItsState() {
        var tracker = HeartbeatTracker()
        _ = tracker.receive(Array(#"{"v":1,"consumer":"w","interval_ms":1000}"#.utf8), at: 0)
        #expect(tracker.namedConnection("w", subscribed: true, at: 0.1, reason: "") == nil)
        #expect(tracker.namedConnection("w", subscribed: false, at: 1, reason: "closed", subscriptions: .init(patterns: ["jobs.*"])) == nil)
        tracker.noteMessage(on: "jobs.email", messages: 4, at: 1.5)
        tracker.noteMessage(on: "other", messages: 4, at: 1.5)
        let back = tracker.namedConnection("w", subscribed: true, at: 2, reason: "")
        #expect(back?.transition.kind == .reconnect)
        #expect(back?.transition.missed == 4)
        #expect(tracker.consumers.first?.state == .up)
        #expect(tracker.consumers.first?.progress.reconnects == 1)
        // Away past the grace while its heartbeats go on: counted as missed, and no reconnect; a
        // later outage's record starts from zero.
        _ = tracker.namedConnection("w", subscribed: false, at: 3, reason: "closed", subscriptions: .init(patterns: ["jobs.*"]))
        tracker.noteMessage(on: "jobs.email", messages: 6, at: 4)
        for t in stride(from: 1.0, through: 30, by: 1) { _ = tracker.receive(Array(#"{"v":1,"consumer":"w","interval_ms":1000}"#.utf8), at: t) }
        #expect(tracker.namedConnection("w", subscribed: true, at: 30, reason: "") == nil)
        #expect(tracker.consumers.first?.progress.missed == 10)
        #expect(tracker.consumers.first?.progress.reconnects == 1)
        let down = tracker.evaluate(now: 40)
        #expect(down.map(\.transition.to) == [.down])
        _ = tracker.receive(Array(#"{"v":1,"consumer":"w","interval_ms":1000}"#.utf8), at: 41)
        let recovered = tracker.receive(Array(#"{"v":1,"consumer":"w","interval_ms":1000}"#.utf8), at: 42)
        #expect((try? recovered.get())?.first?.transition.missed == 0, "this outage missed nothing")
    }
}

@Suite struct ConsumerAlertNoiseTests {
    private func change(_ from: ConsumerStateMachine.State, _ to: ConsumerStateMachine.State, at: Double,
                        kind: ConsumerStateMachine.Transition.Kind = .change, consumer: String = "w") -> HeartbeatTracker.ConsumerTransition {
        .init(consumer: consumer, group: "g", transition: .init(from: from, to: to, reason: "r", at: at, kind: kind))
    }

    @Test func laggingFiresAWarningAndReconnectsAndRestartsFireNothing() {
        var rules = ConsumerAlertRules()
        let lagging = rules.alerts(for: change(.up, .lagging, at: 1))
        #expect(lagging.map(\.name) == ["LookoutConsumerLagging"])
        #expect(lagging.first?.labels["severity"] == "warning")
        #expect(rules.alerts(for: change(.lagging, .up, at: 2)).map(\.status) == [.resolved])
        #expect(rules.alerts(for: change(.up, .late, at: 3, kind: .away)).isEmpty)
        #expect(rules.alerts(for: change(.late, .up, at: 4, kind: .reconnect)).isEmpty)
        #expect(rules.alerts(for: change(.up, .up, at: 5, kind: .restart)).isEmpty)
        _ = rules.alerts(for: change(.up, .down, at: 6))
        #expect(rules.alerts(for: change(.down, .up, at: 7, kind: .reconnect)).isEmpty, "a reconnect never resolves")
        #expect(rules.active.map(\.name) == ["LookoutConsumerDown"])
    }

    private func down(_ consumer: String, at: Double) -> Alert {
        Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": consumer], annotations: [:], startsAt: Date(timeIntervalSince1970: at))
    }

    @Test func alertsThatDependOnALostSourceAreHeldAndReleasedIfStillTrue() {
        var hold = SourceOutageHold(settle: 30)
        #expect(hold.update(sources: ["redis"], down: ["redis"], at: 0).isEmpty)
        #expect(!hold.isHolding(at: 0), "a source that was never up is starting, not lost")
        #expect(hold.filter([down("early", at: 1)], at: 1).count == 1)
        _ = hold.update(sources: ["redis"], down: [], at: 10)
        _ = hold.update(sources: ["redis"], down: ["redis"], at: 100)
        let storm = (0..<50).map { down("c\($0)", at: 110) }
        let source = Alert(labels: ["alertname": "LookoutSourceDown", "source": "redis"], annotations: [:], startsAt: Date(timeIntervalSince1970: 130))
        #expect(hold.filter(storm + [source], at: 130).map(\.name) == ["LookoutSourceDown"], "only the source's own alert goes out")
        #expect(hold.heldCount == 50)
        // Back at 200: 48 consumers recover during the settle period, two stay down.
        #expect(hold.update(sources: ["redis"], down: [], at: 200).isEmpty)
        var resolved = storm.dropLast(2).map { alert -> Alert in
            var alert = alert
            alert.endsAt = Date(timeIntervalSince1970: 210)
            return alert
        }
        resolved.append(Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": "old"], annotations: [:],
                              startsAt: Date(timeIntervalSince1970: 1), endsAt: Date(timeIntervalSince1970: 210)))
        #expect(hold.filter(resolved, at: 210).map { $0.labels["consumer"] } == ["old"], "held alerts that resolve are never sent")
        #expect(hold.update(sources: ["redis"], down: [], at: 229).isEmpty)
        let released = hold.update(sources: ["redis"], down: [], at: 230)
        #expect(released.map { $0.labels["consumer"] ?? "" }.sorted() == ["c48", "c49"])
        #expect(released.allSatisfy { $0.startsAt == Date(timeIntervalSince1970: 110) })
        #expect(hold.filter([down("later", at: 231)], at: 231).count == 1)
    }

    @Test func manyChannelsWithoutConsumersMakeOneAlert() {
        let few = HealthSnapshot(unservedChannels: (0..<10).map { "c\($0)" }, sourcesDown: [], at: 0).conditions
        #expect(few.count == 10)
        #expect(few.allSatisfy { $0.labels["alertname"] == "LookoutChannelWithoutConsumers" })
        let many = HealthSnapshot(unservedChannels: (0..<10_000).map { "busy\($0)" }, sourcesDown: [], at: 0).conditions
        #expect(many.count == 1)
        #expect(many.first?.labels == ["alertname": "LookoutChannelsWithoutConsumers", "severity": "warning", "source": "lookout"])
        #expect(many.first?.summary == "10000 channels carry traffic with no live consumer")
        #expect(many.first?.description.contains("the busiest: busy0, busy1, busy2, busy3, busy4.") == true)
    }

    @Test func theBusiestUnservedChannelsComeFirstAndEveryOneIsKept() {
        var random = SplitMix64(state: 7)
        for count in [0, 3, 11, 12, 500] {
            let channels = (0..<count).map { (label: "c\($0)", rate: Double(Int.random(in: 0..<4, using: &random))) }
            let ordered = HealthSnapshot.busiestFirst(channels.shuffled(using: &random))
            let sorted = channels.sorted { ($1.rate, $0.label) < ($0.rate, $1.label) }.map(\.label)
            #expect(ordered.count == count)
            #expect(Set(ordered) == Set(sorted))
            let named = HealthSnapshot.maxChannelAlerts + 1
            #expect(Array(ordered.prefix(named)) == Array(sorted.prefix(named)), "\(count) channels")
        }
    }
}
