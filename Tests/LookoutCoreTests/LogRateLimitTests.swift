import Testing

@testable import LookoutCore

@Suite struct LogRateLimitTests {
    @Test func oneLinePerKeyAndIntervalEachCountingWhatWasHeldBack() {
        var limit = LogRateLimit(interval: 10)
        #expect(limit.admit("a", at: 0) == 0)
        #expect(limit.admit("a", at: 9.9) == nil)
        #expect(limit.admit("a", at: 5) == nil)
        #expect(limit.admit("b", at: 5) == 0, "another key is not held back")
        #expect(limit.admit("a", at: 10) == 2, "the next line counts the two held back")
        #expect(limit.admit("a", at: 20) == 0)
    }

    @Test func keysBeyondTheBoundAreForgottenOnceQuiet() {
        var limit = LogRateLimit(interval: 10, maxKeys: 3)
        for key in ["a", "b", "c"] { _ = limit.admit(key, at: 0) }
        _ = limit.admit("a", at: 1)
        // A fourth key at 11: the quiet ones are forgotten, and "a" with its held-back line too.
        #expect(limit.admit("d", at: 11) == 0)
        #expect(limit.admit("a", at: 11) == 0, "forgotten: what it held back is no longer counted")
        #expect(limit.admit("d", at: 12) == nil)
    }
}
