import Logging
import LookoutCore
import Synchronization

/// Logs a rejected heartbeat at most once per `interval` seconds, with how many were
/// suppressed since; the counter metric has every one.
final class RateLimitedLog: Sendable {
    private let interval: Double
    private let state = Mutex<(last: Double, suppressed: Int)>((-Double.infinity, 0))

    init(interval: Double) {
        self.interval = interval
    }

    func log(_ logger: Logger, _ rejection: Heartbeat.Rejection) {
        let now = wallClockSeconds()
        let suppressed: Int? = state.withLock { state in
            guard now - state.last >= interval else {
                state.suppressed += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.suppressed
        }
        guard let suppressed else { return }
        logger.warning("invalid heartbeat rejected", metadata: [
            "reason": "\(rejection.rawValue)", "suppressed": "\(suppressed)",
        ])
    }
}
