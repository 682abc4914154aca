import NIOCore
import Testing

@testable import Relay

@Suite struct LoginThrottleTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    @Test func aFewFailuresAreFreeThenTheDelayDoublesToItsCap() {
        var throttle = LoginThrottle()
        let delays = (0..<12).map { i in throttle.delayAfterFailure(from: "10.0.0.1", now: start + .milliseconds(Int64(i) * 100)) }
        let expected: [TimeAmount] = [.zero, .zero, .zero, .zero, .zero, .milliseconds(100), .milliseconds(200), .milliseconds(400),
                                      .milliseconds(800), .milliseconds(1600), .seconds(2), .seconds(2)]
        #expect(delays == expected)
        #expect(throttle.delayAfterFailure(from: "10.0.0.2", now: start + .seconds(2)) == .zero, "another address is not slowed")
    }

    @Test func anAddressIsForgottenAfterAQuietWindow() {
        var throttle = LoginThrottle()
        for i in 0..<8 { _ = throttle.delayAfterFailure(from: "::1", now: start + .seconds(Int64(i))) }
        #expect(throttle.delayAfterFailure(from: "::1", now: start + .seconds(8)) > .zero, "failures a second apart keep it slowed")
        #expect(throttle.delayAfterFailure(from: "::1", now: start + .seconds(8) + LoginThrottle.window) == .zero,
                "after ten quiet seconds it starts afresh")
    }

    @Test func memoryIsCappedAndNewAddressesBeyondTheCapWaitTheLongest() {
        var throttle = LoginThrottle()
        for i in 0..<LoginThrottle.capacity { _ = throttle.delayAfterFailure(from: "h\(i)", now: start) }
        #expect(throttle.delayAfterFailure(from: "new", now: start + .seconds(1)) == LoginThrottle.maximumDelay)
        #expect(throttle.delayAfterFailure(from: "h1", now: start + .seconds(1)) == .zero, "a remembered address keeps its count")
        #expect(throttle.delayAfterFailure(from: "new", now: start + LoginThrottle.window + .seconds(1)) == .zero,
                "once the others are forgotten there is room again")
    }
}
