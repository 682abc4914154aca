import LookoutCore
import Testing

/// The store is handed a consumer at once when its standing changes, and at most every
/// `routineInterval` when only its heartbeat and progress moved.
@Suite struct ConsumerRowScheduleTests {
    private func snapshot(_ name: String, state: ConsumerStateMachine.State = .up, heartbeat: Double,
                          processed: UInt64? = nil, group: String = "billing") -> HeartbeatTracker.ConsumerSnapshot {
        .init(consumer: name, group: group, detector: .init(state: state, stateSince: 0, reason: "", lastHeartbeatAt: heartbeat, interval: 1,
                                                            processed: processed, failed: nil, channels: [], connectionOnly: false))
    }

    @Test func aNewConsumerGoesAtOnceThenItsHeartbeatsEveryInterval() {
        var schedule = ConsumerRowSchedule(routineInterval: 5)
        schedule.note(snapshot("w1", heartbeat: 0))
        #expect(schedule.take(at: 0).map(\.consumer) == ["w1"], "never handed over: due at once")
        for second in 1...4 {
            schedule.note(snapshot("w1", heartbeat: Double(second), processed: UInt64(second)))
            #expect(schedule.take(at: Double(second)).isEmpty, "only a later heartbeat at \(second) s")
        }
        schedule.note(snapshot("w1", heartbeat: 5, processed: 5))
        let due = schedule.take(at: 5)
        #expect(due.map(\.lastHeartbeatAt) == [5] && due.map(\.processed) == [5], "the latest news, once the interval passed")
        #expect(schedule.waitingCount == 0)
        #expect(schedule.take(at: 60).isEmpty, "nothing noted since: nothing to write")
    }

    @Test func aChangeOfStandingGoesAtOnce() {
        var schedule = ConsumerRowSchedule(routineInterval: 5)
        schedule.note(snapshot("w1", heartbeat: 0))
        schedule.note(snapshot("w2", heartbeat: 0))
        _ = schedule.take(at: 0)
        schedule.note(snapshot("w1", state: .late, heartbeat: 0))
        schedule.note(snapshot("w2", heartbeat: 1, group: "payments"))
        #expect(Set(schedule.take(at: 1).map(\.consumer)) == ["w1", "w2"], "a state and a group change are due at the next refresh")
        schedule.note(snapshot("w1", state: .late, heartbeat: 0))
        #expect(schedule.take(at: 2).isEmpty, "the same standing again is routine")
        #expect(schedule.waitingCount == 1, "and waits for its turn")
        #expect(schedule.take(at: 6).map(\.state) == [.late])
    }
}
