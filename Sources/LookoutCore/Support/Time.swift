#if canImport(Glibc)
import Glibc
#endif

/// Seconds since the Unix epoch: the timestamps observations, transitions and alerts carry.
@Sendable public func wallClockSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Seconds on a monotonic clock (arbitrary origin): for timeouts and intervals, which a
/// change of the wall clock must not stretch or cut short.
@Sendable public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
