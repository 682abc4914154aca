import Logging
import NIOCore
import Synchronization
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

/// A password-guessing burst makes a few log lines, not one per attempt, and none with the
/// password: at most one per client address every 10 s, saying how many were not logged.
@Suite struct AuthFailureLogTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    /// Keeps what is logged, for the test to read.
    private final class Lines: Sendable {
        private let entries = Mutex<[(message: String, metadata: Logger.Metadata)]>([])
        func append(_ message: String, _ metadata: Logger.Metadata) { entries.withLock { $0.append((message, metadata)) } }
        var all: [(message: String, metadata: Logger.Metadata)] { entries.withLock { $0 } }
    }

    private struct Capture: LogHandler {
        let lines: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String,
                 line: UInt) {
            lines.append(message.description, metadata ?? [:])
        }
    }

    @Test func aBurstFromOneAddressIsOneLineEveryTenSecondsWithTheCountItLeftOut() {
        let lines = Lines()
        let logger = Logger(label: "test") { _ in Capture(lines: lines) }
        var log = AuthFailureLog()
        for attempt in 0..<50 {
            log.note(.wrongPassword, address: "10.0.0.1:5000", clientID: 7, logger: logger, now: 1000 + Double(attempt) * 0.1)
        }
        log.note(.unknownUser, address: "10.0.0.2:5000", clientID: 8, logger: logger, now: 1001)
        #expect(lines.all.count == 2, "one line for the burst, one for the other address")
        #expect(lines.all.map { $0.metadata["failures_not_logged"]?.description } == ["0", "0"])
        log.note(.wrongPassword, address: "10.0.0.1:5000", clientID: 7, logger: logger, now: 1010)
        #expect(lines.all.count == 3)
        #expect(lines.all.last?.metadata["failures_not_logged"]?.description == "49", "the next line counts those left out")
        #expect(lines.all.last?.metadata["reason"]?.description == "wrong_password")
        #expect(lines.all.allSatisfy { $0.message == "relay: AUTH failed" })
    }
}
