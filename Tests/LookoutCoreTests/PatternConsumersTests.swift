import LookoutCore
import Testing

/// Who consumes a channel through patterns: exact where the source saw the receivers, known
/// globs on Redis, unknown when unattributed patterns exist and nothing known matches.
@Suite struct PatternConsumersTests {
    @Test func theRelaysExactCountWinsOverEverythingElse() {
        let patterns = PatternConsumers(known: ["jobs.*"], unattributed: 5)
        #expect(patterns.assess("jobs.a", subscribers: 0, exact: 2) == .init(patternSubscribers: 2, unknown: false))
        #expect(patterns.assess("jobs.a", subscribers: 0, exact: 0) == .init(patternSubscribers: 0, unknown: false),
                "the relay saw nobody receive it: nobody did, whatever is declared")
    }

    @Test func withNoForeignPatternOnlyPlainSubscribersCount() {
        let patterns = PatternConsumers(known: ["jobs.*"], unattributed: 0)
        #expect(patterns.assess("jobs.a", subscribers: 0, exact: nil) == .init(patternSubscribers: 0, unknown: false),
                "declared, but no pattern is held on Redis: not consumed")
        #expect(patterns.assess("orders", subscribers: 2, exact: nil) == .init(patternSubscribers: 0, unknown: false))
    }

    @Test func foreignPatternsMakeUnmatchedChannelsUnknownAndMatchedOnesConsumed() {
        let patterns = PatternConsumers(known: ["jobs.*", "jobs.[ab]", "mail.*", "jobs.*"], unattributed: 1)
        #expect(patterns.known == ["jobs.*", "jobs.[ab]", "mail.*"], "duplicates counted once")
        #expect(patterns.assess("jobs.a", subscribers: 0, exact: nil) == .init(patternSubscribers: 1, unknown: false),
                "two known globs match, but only one pattern is held")
        #expect(PatternConsumers(known: ["jobs.*", "jobs.[ab]"], unattributed: 3).assess("jobs.a", subscribers: 0, exact: nil).patternSubscribers == 2)
        #expect(patterns.assess("orders", subscribers: 0, exact: nil) == .init(patternSubscribers: 0, unknown: true))
        #expect(patterns.assess("orders", subscribers: 1, exact: nil) == .init(patternSubscribers: 0, unknown: false),
                "a plain subscriber settles it")
    }

    @Test func globsAreToldFromNames() {
        #expect(PatternConsumers.isPattern("jobs.*"))
        #expect(PatternConsumers.isPattern("job?"))
        #expect(PatternConsumers.isPattern("jobs.[ab]"))
        #expect(!PatternConsumers.isPattern("jobs.a"))
    }
}

/// A consumer's heartbeats carried by a source that is not watching are not silence.
@Suite struct HeartbeatCarrierTests {
    private let beat = Array(#"{"v":1,"consumer":"w","interval_ms":1000}"#.utf8)

    @Test func silenceIsNotJudgedWhileTheCarryingSourceIsNotWatching() {
        var tracker = HeartbeatTracker()
        _ = tracker.receive(beat, from: "redis://a", at: 0)
        _ = tracker.receive(Array(#"{"v":1,"consumer":"other","interval_ms":1000}"#.utf8), from: "redis://b", at: 0)
        tracker.sourceStoppedWatching("redis://a", at: 0.5)
        var changes: [HeartbeatTracker.ConsumerTransition] = []
        for tenth in 6...100 { changes += tracker.evaluate(now: Double(tenth) / 10) }
        #expect(changes.filter { $0.consumer == "w" }.isEmpty, "ten seconds unseen: still up")
        #expect(changes.filter { $0.consumer == "other" }.map(\.transition.to) == [.late, .down], "another source's consumer is judged as ever")

        tracker.sourceWatchingAgain("redis://a", at: 10)
        for tenth in 101...114 { changes += tracker.evaluate(now: Double(tenth) / 10) }
        #expect(changes.filter { $0.consumer == "w" }.isEmpty, "silence counts from the source's return")
        changes += tracker.evaluate(now: 11.5)
        #expect(changes.filter { $0.consumer == "w" }.map(\.transition.to) == [.late], "late 1.5 intervals after the return: \(changes)")
    }

    @Test func aReturnWithoutALossChangesNothing() {
        var tracker = HeartbeatTracker()
        _ = tracker.receive(beat, from: "redis://a", at: 0)
        tracker.sourceWatchingAgain("redis://a", at: 1.4)
        #expect(tracker.evaluate(now: 1.5).map(\.transition.to) == [.late], "a source that never stopped watching does not reset silence")
    }

    @Test func theFirstBeatAfterTheReturnIsOnTime() {
        var tracker = HeartbeatTracker()
        _ = tracker.receive(beat, from: "redis://a", at: 0)
        tracker.sourceStoppedWatching("redis://a", at: 0.2)
        #expect(tracker.evaluate(now: 30).isEmpty)
        tracker.sourceWatchingAgain("redis://a", at: 30)
        guard case .success(let changes) = tracker.receive(beat, from: "redis://a", at: 30.9) else {
            Issue.record("heartbeat refused")
            return
        }
        #expect(changes.isEmpty)
        #expect(tracker.evaluate(now: 31.5).isEmpty)
        #expect(tracker.consumers.first?.state == .up)
    }
}
