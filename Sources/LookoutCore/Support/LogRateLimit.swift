/// Which log lines of a noisy kind get through: at most one per key (a client address, or one
/// key for a kind of event) every `interval` seconds, each telling how many were held back since
/// the last. The metrics count every event; this only keeps the log readable. Pure: the caller
/// passes the time (monotonic seconds). At most `maxKeys` keys are remembered; past that, keys
/// quiet for an interval are forgotten.
public struct LogRateLimit: Sendable {
    public let interval: Double
    public let maxKeys: Int
    private var lastLogged: [String: (at: Double, heldBack: Int)] = [:]

    public init(interval: Double, maxKeys: Int = 1024) {
        self.interval = interval
        self.maxKeys = maxKeys
    }

    /// Whether a line for `key` gets through at `now`: the number of lines held back since the
    /// last one that did, or nil when this one is held back.
    public mutating func admit(_ key: String = "", at now: Double) -> Int? {
        if let last = lastLogged[key], now - last.at < interval {
            lastLogged[key]?.heldBack += 1
            return nil
        }
        let heldBack = lastLogged[key]?.heldBack ?? 0
        if lastLogged.count >= maxKeys { lastLogged = lastLogged.filter { now - $0.value.at < interval } }
        lastLogged[key] = (now, 0)
        return heldBack
    }
}
