import LookoutCore
import Synchronization

/// One kind of log line let through at most once per `interval` seconds (``LogRateLimit``),
/// from any thread; the metrics count every event.
final class RateLimitedLog: Sendable {
    private let limit: Mutex<LogRateLimit>

    init(interval: Double) {
        limit = Mutex(LogRateLimit(interval: interval))
    }

    /// Calls `emit` with the number suppressed since the last line, unless a line was let
    /// through less than `interval` ago.
    func callAsFunction(_ emit: (_ suppressed: Int) -> Void) {
        let now = monotonicSeconds()
        if let suppressed = limit.withLock({ $0.admit(at: now) }) { emit(suppressed) }
    }
}
