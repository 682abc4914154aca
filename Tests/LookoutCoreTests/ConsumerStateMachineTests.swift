import LookoutTestSupport
import Testing

@testable import LookoutCore

/// The detector replayed on a simulated clock.
@Suite struct ConsumerStateMachineTests {
    private let beat = Heartbeat(consumer: "w", interval: 5)

    /// Advances in `step` seconds from `start` to `end`, evaluating at each tick; returns the transitions.
    private func run(_ machine: inout ConsumerStateMachine, from start: Double, to end: Double, step: Double = 0.01,
                     heartbeats: [Double: Heartbeat] = [:]) -> [ConsumerStateMachine.Transition] {
        var transitions: [ConsumerStateMachine.Transition] = []
        var t = start
        let schedule = heartbeats.sorted { $0.key < $1.key }
        var next = 0
        while t <= end + 1e-9 {
            while next < schedule.count && schedule[next].key <= t + 1e-9 {
                transitions += machine.receive(schedule[next].value, at: schedule[next].key)
                next += 1
            }
            if let tr = machine.evaluate(now: t) { transitions.append(tr) }
            t += step
        }
        return transitions
    }

    @Test func aConsumerThatStopsIsLateThenDownAtTheExactTime() {
        var machine = ConsumerStateMachine(first: beat, at: 0)
        let transitions = run(&machine, from: 0, to: 20)
        #expect(transitions.map(\.to) == [.late, .down])
        #expect(abs(transitions[0].at - 7.5) < 0.011, "late at 1.5 × interval")
        #expect(abs(transitions[1].at - 15) < 0.011, "down at 3 × interval")
        #expect(transitions[1].reason == "no heartbeat for 15s (interval 5s)")
    }

    @Test func noFalseDownUnder40PercentJitterOverHours() {
        var machine = ConsumerStateMachine(first: beat, at: 0)
        var rng = SplitMix64(state: 42)
        var heartbeats: [Double: Heartbeat] = [:]
        var t = 0.0
        while t < 6 * 3600 {
            t += 5 * Double.random(in: 0.6...1.4, using: &rng)
            heartbeats[t] = beat
        }
        let transitions = run(&machine, from: 0, to: 6 * 3600, step: 0.5, heartbeats: heartbeats)
        #expect(!transitions.contains { $0.to == .down })
        #expect(!transitions.contains { $0.to == .late }, "the longest gap, 7 s, is under 1.5 × 5 s")
    }

    @Test func aStallIsDetectedWhileChannelsCarryTraffic() {
        var machine = ConsumerStateMachine(first: Heartbeat(consumer: "w", interval: 5, channels: ["orders.*"], processed: 10), at: 0)
        #expect(machine.serves("orders.created"))
        #expect(!machine.serves("payments"))
        var transitions: [ConsumerStateMachine.Transition] = []
        for second in stride(from: 5.0, through: 120, by: 5) {
            machine.noteTraffic(on: "orders.created", messages: 1, at: second - 1)
            transitions += machine.receive(Heartbeat(consumer: "w", interval: 5, channels: ["orders.*"], processed: 10), at: second)
            if let tr = machine.evaluate(now: second + 0.5) { transitions.append(tr) }
        }
        #expect(transitions.first?.to == .stalled)
        #expect(transitions.first.map { abs($0.at - 60.5) < 0.01 } == true)
        #expect(transitions.count == 1)
        let resumed = machine.receive(Heartbeat(consumer: "w", interval: 5, processed: 11), at: 125)
        #expect(resumed.map(\.to) == [.up])
    }

    @Test func noStallWithoutTraffic() {
        var machine = ConsumerStateMachine(first: Heartbeat(consumer: "w", interval: 5, channels: ["c"], processed: 10), at: 0)
        var transitions: [ConsumerStateMachine.Transition] = []
        for second in stride(from: 5.0, through: 300, by: 5) {
            transitions += machine.receive(Heartbeat(consumer: "w", interval: 5, channels: ["c"], processed: 10), at: second)
            if let tr = machine.evaluate(now: second + 1) { transitions.append(tr) }
        }
        #expect(transitions.isEmpty, "an idle consumer on a quiet channel is healthy")
    }

    @Test func goodbyeStopsWithoutAnAlertAndAHeartbeatRestarts() {
        var machine = ConsumerStateMachine(first: beat, at: 0)
        var goodbye = beat
        goodbye.stopping = true
        #expect(machine.receive(goodbye, at: 3).map(\.to) == [.stopped])
        #expect(run(&machine, from: 3, to: 600, step: 1).isEmpty)
        #expect(machine.receive(beat, at: 601).map(\.to) == [.up])
    }

    @Test func flappingIsDamped() {
        var machine = ConsumerStateMachine(first: beat, at: 0)
        // Down at 15 s, then one heartbeat every 20 s: never two on time in a row.
        var heartbeats: [Double: Heartbeat] = [:]
        for t in stride(from: 20.0, through: 300, by: 20) { heartbeats[t] = beat }
        let transitions = run(&machine, from: 0, to: 300, step: 0.5, heartbeats: heartbeats)
        #expect(transitions.filter { $0.to == .down }.count == 1)
        #expect(!transitions.contains { $0.to == .up })
        // A heartbeat on time after the last one (at 300 s) makes two in a row: back up.
        #expect(machine.receive(beat, at: 302).map(\.to) == [.up])
    }
}

@Suite struct PhiAccrualTests {
    @Test func phiGrowsWithSilence() {
        var detector = PhiAccrual()
        for _ in 0..<100 { detector.record(1.0) }
        #expect(detector.phi(elapsed: 0.5) < 0.5)
        #expect(detector.phi(elapsed: 1.0) < 1)
        #expect(detector.phi(elapsed: 1.5) > 3)
        #expect(detector.phi(elapsed: 2.0) > 8)
        #expect(detector.phi(elapsed: 3) > detector.phi(elapsed: 2))
        // Past about 21 deviations e/(1+e) is under the smallest Double: φ stays finite and grows.
        #expect(detector.phi(elapsed: 3_600).isFinite)
        #expect(detector.phi(elapsed: 3_600) > detector.phi(elapsed: 3))
    }

    @Test func aSilenceFirstJudgedLongAfterItBeganIsDownNotACrash() {
        var configuration = ConsumerStateMachine.Configuration()
        configuration.phiAccrual = PhiAccrual.Configuration()
        var machine = ConsumerStateMachine(first: Heartbeat(consumer: "c", interval: 1), at: 0, configuration: configuration)
        for second in 1...5 { _ = machine.receive(Heartbeat(consumer: "c", interval: 1), at: Double(second)) }
        // As when a monitor that fell behind catches up: the first look comes a day later.
        let transition = machine.evaluate(now: 86_405)
        #expect(transition?.to == .down)
        #expect(transition?.reason.hasPrefix("no heartbeat for 86400s (phi ") == true, "\(transition?.reason ?? "")")
    }

    @Test func phiDetectorToleratesJitterButCatchesAStop() {
        var configuration = ConsumerStateMachine.Configuration()
        configuration.phiAccrual = PhiAccrual.Configuration()
        let beat = Heartbeat(consumer: "w", interval: 5)
        var machine = ConsumerStateMachine(first: beat, at: 0, configuration: configuration)
        var rng = SplitMix64(state: 7)
        var t = 0.0
        var transitions: [ConsumerStateMachine.Transition] = []
        while t < 3 * 3600 {
            let next = t + 5 * Double.random(in: 0.6...1.4, using: &rng)
            var tick = t + 0.5
            while tick < next {
                if let tr = machine.evaluate(now: tick) { transitions.append(tr) }
                tick += 0.5
            }
            transitions += machine.receive(beat, at: next)
            t = next
        }
        #expect(!transitions.contains { $0.to == .down }, "no false down over 3 hours of ±40% jitter")
        var stoppedAt: Double?
        var tick = t
        while stoppedAt == nil && tick < t + 120 {
            tick += 0.1
            if let tr = machine.evaluate(now: tick), tr.to == .down { stoppedAt = tick - t }
        }
        #expect(stoppedAt != nil)
        print("phi detector: down \(stoppedAt ?? -1) s after the last heartbeat")
        #expect((stoppedAt ?? 0) > 5 && (stoppedAt ?? 99) < 15, "past the learned mean, sooner than the fixed 3 × interval")
    }
}
