import Testing

@testable import LookoutCore

/// The silent-link judge, driven with explicit times (the owner's loop checks every 200 ms).
@Suite struct LinkLivenessTests {
    /// Checks every `step` seconds from `start` to `end`, hearing nothing; returns each action
    /// other than `.none` with its time.
    private func silentRun(_ liveness: inout LinkLiveness, from start: Double, to end: Double, step: Double = 0.2)
        -> [(Double, LinkLiveness.Action)]
    {
        var actions: [(Double, LinkLiveness.Action)] = []
        var now = start
        while now <= end + 1e-9 {
            let action = liveness.check(at: now)
            if action != .none { actions.append((now, action)) }
            now += step
        }
        return actions
    }

    @Test func aSilentLinkIsPingedEverySecondThenDeclaredDeadAtTheTimeout() {
        var liveness = LinkLiveness(.init(timeout: 5), now: 100)
        let actions = silentRun(&liveness, from: 100, to: 106)
        let pings = actions.filter { $0.1 == .ping }.map(\.0)
        #expect(pings.count == 4, "pings at 1, 2, 3 and 4 s of silence: \(pings)")
        #expect(abs(pings[0] - 101) < 1e-6)
        guard let dead = actions.first(where: { if case .declareDead = $0.1 { true } else { false } }) else {
            Issue.record("never declared dead")
            return
        }
        #expect(abs(dead.0 - 105) < 1e-6, "dead exactly at the timeout, not before")
        if case .declareDead(let silence) = dead.1 { #expect(abs(silence - 5) < 1e-6) }
    }

    @Test func aLinkThatAnswersItsPingsNeverDies() {
        var liveness = LinkLiveness(.init(timeout: 5), now: 0)
        var now = 0.0
        var pings = 0
        // Six hours of a link carrying nothing but the answers to its pings (20 ms later).
        while now < 6 * 3600 {
            switch liveness.check(at: now) {
            case .none: break
            case .ping:
                pings += 1
                liveness.heard(at: now + 0.02)
            case .declareDead:
                Issue.record("declared dead at \(now) although every ping was answered")
                return
            }
            now += 0.2
        }
        #expect(pings > 10_000, "a quiet link is pinged about every second")
    }

    @Test func trafficPostponesPingsAndDeath() {
        var liveness = LinkLiveness(.init(timeout: 5), now: 0)
        for second in stride(from: 0.5, through: 60, by: 0.5) {
            liveness.heard(at: second)
            #expect(liveness.check(at: second + 0.2) == .none, "a busy link is never pinged")
        }
        #expect(liveness.silence(at: 62) == 2)
        #expect(liveness.check(at: 64.9) == .ping, "4.9 s after the last message")
        guard case .declareDead(let silence) = liveness.check(at: 65.1) else {
            Issue.record("not dead 5.1 s after the last message")
            return
        }
        #expect(abs(silence - 5.1) < 1e-6)
    }

    @Test func shortTimeoutsPingSooner() {
        let configuration = LinkLiveness.Configuration(timeout: 2)
        #expect(configuration.pingAfter == 0.4)
        #expect(LinkLiveness.Configuration(timeout: 30).pingAfter == 1)
    }
}

/// The end-to-end probe check, with explicit times.
@Suite struct ProbeWatchTests {
    @Test func aProbeSeenBeforeItsPublishReturnsIsNotAwaitedForever() {
        // Found in a full test run: the subscription saw the probe before the poller's PUBLISH
        // returned; awaited only then, it was never answered, and with the poller blinded the
        // subscription was declared dead for a probe it had received.
        var watch = ProbeWatch()
        watch.sending(sentAt: 1000.0, at: 10, subscribed: true)
        watch.received(sentAt: 1000.0)
        #expect(watch.overdue(at: 100, timeout: 5) == nil)
    }

    @Test func aProbeNotBackWithinTheTimeoutIsOverdue() {
        var watch = ProbeWatch()
        watch.sending(sentAt: 1000.0, at: 10, subscribed: true)
        watch.sending(sentAt: 1001.0, at: 11, subscribed: true)
        #expect(watch.overdue(at: 15, timeout: 5) == nil)
        #expect(watch.overdue(at: 15.5, timeout: 5) == 5.5, "measured from the oldest probe awaited")
        watch.received(sentAt: 1001.0)
        #expect(watch.overdue(at: 30, timeout: 5) == nil, "a later probe answers the earlier one")
    }

    @Test func unpublishedProbesAndProbesBeforeTheSubscriptionAreNotAwaited() {
        var watch = ProbeWatch()
        watch.sending(sentAt: 1000.0, at: 10, subscribed: false)
        #expect(watch.overdue(at: 100, timeout: 5) == nil, "no subscription to bring it back")
        watch.sending(sentAt: 1001.0, at: 11, subscribed: true)
        watch.notPublished(sentAt: 1001.0)
        #expect(watch.overdue(at: 100, timeout: 5) == nil, "the PUBLISH failed")
        watch.sending(sentAt: 1002.0, at: 12, subscribed: true)
        watch.received(sentAt: 999.0)
        #expect(watch.overdue(at: 18, timeout: 5) == 6, "an older probe answers nothing newer")
        watch.reset()
        #expect(watch.overdue(at: 100, timeout: 5) == nil, "resubscribed: earlier probes cannot come back")
    }
}

/// What the poller learned, held behind the probe it published after learning it.
@Suite struct ProbeFenceTests {
    @Test func itemsWaitForTheirProbeAndLeaveInTheOrderParked() {
        var fence = ProbeFence<String>()
        fence.park(["a back"], behindProbeSentAt: 1000.0, at: 10)
        fence.park(["b gone", "c back"], behindProbeSentAt: 1001.0, at: 11)
        #expect(fence.probeReceived(sentAt: 999.0).isEmpty, "an earlier probe does not say the subscription caught up")
        #expect(fence.probeReceived(sentAt: 1000.0) == ["a back"])
        #expect(!fence.isEmpty)
        #expect(fence.probeReceived(sentAt: 1001.0) == ["b gone", "c back"])
        #expect(fence.isEmpty)
    }

    @Test func aLaterProbeReleasesWhatWaitedForAnEarlierOne() {
        var fence = ProbeFence<Int>()
        fence.park([1], behindProbeSentAt: 1000.0, at: 10)
        fence.park([2], behindProbeSentAt: 1001.0, at: 11)
        #expect(fence.probeReceived(sentAt: 1001.5) == [1, 2])
    }

    @Test func whatWaitedLongerThanTheTimeoutIsReleasedAnyway() {
        var fence = ProbeFence<Int>()
        fence.park([], behindProbeSentAt: 999.0, at: 9)
        #expect(fence.isEmpty, "nothing parked for nothing")
        fence.park([1], behindProbeSentAt: 1000.0, at: 10)
        fence.park([2], behindProbeSentAt: 1001.0, at: 14)
        #expect(fence.expired(at: 15, timeout: 5).isEmpty)
        #expect(fence.expired(at: 15.5, timeout: 5) == [1], "its probe was lost with a subscription")
        #expect(fence.probeReceived(sentAt: 1001.0) == [2])
    }
}
