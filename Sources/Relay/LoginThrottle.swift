import Logging
import LookoutCore
import NIOCore

/// Failed logins are logged at most once per client address every 10 seconds, with how many
/// there were since, so a password-guessing burst makes a few lines, not one per attempt. The
/// password is never logged.
struct AuthFailureLog {
    private var limit = LogRateLimit(interval: 10)

    mutating func note(_ failure: AuthFailure, address: String, clientID: UInt64, logger: Logger, now: Double = monotonicSeconds()) {
        guard let suppressed = limit.admit(address, at: now) else { return }
        logger.warning("relay: AUTH failed", metadata: [
            "reason": "\(failure.rawValue)", "client.addr": "\(address)", "client.id": "\(clientID)",
            "failures_not_logged": "\(suppressed)",
        ])
    }
}

/// How long a failed login's reply waits, per client address: nothing for the first few
/// failures, then doubling up to a cap, so that a password-guessing burst from one address slows
/// to one guess per ``maximumDelay`` per connection while someone who mistypes is not slowed.
/// An address is forgotten after ``window`` without a failure. Pure: the caller passes the time.
struct LoginThrottle {
    static let freeFailures = 5
    static let firstDelay = TimeAmount.milliseconds(100)
    static let maximumDelay = TimeAmount.seconds(2)
    static let window = TimeAmount.seconds(10)
    /// Addresses remembered at most; beyond it (many addresses failing at once) every failure
    /// from a new address waits the longest.
    static let capacity = 10_000

    private var failures: [String: (count: Int, last: NIODeadline)] = [:]

    /// Records a failure from `host` and returns how long its reply waits.
    mutating func delayAfterFailure(from host: String, now: NIODeadline) -> TimeAmount {
        var entry = failures[host].flatMap { now - $0.last < Self.window ? $0 : nil } ?? (count: 0, last: now)
        entry.count += 1
        entry.last = now
        if failures[host] == nil && failures.count >= Self.capacity {
            failures = failures.filter { now - $0.value.last < Self.window }
            if failures.count >= Self.capacity { return Self.maximumDelay }
        }
        failures[host] = entry
        let excess = entry.count - Self.freeFailures
        guard excess > 0 else { return .zero }
        return min(Self.maximumDelay, Self.firstDelay * (1 << min(excess - 1, 16)))
    }
}

/// Why an AUTH failed (the `reason` label of `lookout_relay_auth_failures_total`). The client
/// always gets Redis's one WRONGPASS reply, whichever it is.
public enum AuthFailure: String, Sendable, Hashable, CaseIterable {
    case wrongPassword = "wrong_password"
    case unknownUser = "unknown_user"
    case disabledUser = "disabled_user"
}
