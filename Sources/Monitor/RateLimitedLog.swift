import LookoutCore
import Synchronization

/// Lets one kind of log line through at most once per `interval` seconds, telling it how many
/// were suppressed since; the metrics count every event.
final class RateLimitedLog: Sendable {
    private let interval: Double
    private let state = Mutex<(last: Double, suppressed: Int)>((-Double.infinity, 0))

    init(interval: Double) {
        self.interval = interval
    }

    /// Calls `emit` with the number suppressed since the last line, unless a line was let
    /// through less than `interval` ago.
    func callAsFunction(_ emit: (_ suppressed: Int) -> Void) {
        let now = monotonicSeconds()
        let suppressed: Int? = state.withLock { state in
            guard now - state.last >= interval else {
                state.suppressed += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.suppressed
        }
        if let suppressed { emit(suppressed) }
    }
}
