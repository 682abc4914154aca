/// Redis's `client-output-buffer-limit` rule for one subscriber, as a pure state machine.
///
/// A subscriber is disconnected when its pending output reaches the hard limit, or stays at or
/// above the soft limit for longer than the soft period. A zero limit is off. Time is passed in,
/// so tests replay any schedule exactly.
public struct OutputBufferPolicy: Sendable, Hashable {
    /// The limits; Redis's default for pub/sub clients is `32mb 8mb 60`.
    public struct Limits: Sendable, Hashable {
        public var hardBytes: Int
        public var softBytes: Int
        public var softSeconds: Int

        public init(hardBytes: Int = 32 * 1024 * 1024, softBytes: Int = 8 * 1024 * 1024, softSeconds: Int = 60) {
            self.hardBytes = hardBytes
            self.softBytes = softBytes
            self.softSeconds = softSeconds
        }

        /// Parses Redis's `client-output-buffer-limit` value for one class, e.g. `32mb 8mb 60`.
        public init?(redisSyntax: String) {
            let words = redisSyntax.split(separator: " ")
            guard words.count == 3,
                  let hard = Self.parseMemory(words[0]), let soft = Self.parseMemory(words[1]),
                  let seconds = Int(words[2]), seconds >= 0 else { return nil }
            self.init(hardBytes: hard, softBytes: soft, softSeconds: seconds)
        }

        /// `1024`, `64kb`, `32mb`, `1gb` (and Redis's `k`, `m`, `g` for powers of ten).
        public static func parseMemory(_ text: Substring) -> Int? {
            let lower = text.lowercased()
            let units: [(String, Int)] = [("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("g", 1_000_000_000), ("m", 1_000_000), ("k", 1000), ("b", 1)]
            for (suffix, factor) in units where lower.hasSuffix(suffix) {
                guard let n = Int(lower.dropLast(suffix.count)), n >= 0 else { return nil }
                return n * factor
            }
            guard let n = Int(lower), n >= 0 else { return nil }
            return n
        }

        /// The Redis syntax of these limits: `hard soft seconds` in bytes.
        public var redisSyntax: String { "\(hardBytes) \(softBytes) \(softSeconds)" }
    }

    /// What the caller does after a check.
    public enum Action: Sendable, Hashable {
        case keep
        case disconnectHardLimit
        case disconnectSoftLimit
    }

    public let limits: Limits
    /// When the soft limit was first reached in the current episode, in seconds on the caller's clock.
    private(set) var softLimitReachedAt: Double?

    public init(limits: Limits) {
        self.limits = limits
    }

    /// Checks `pendingBytes` at time `now` (seconds on any monotonic clock).
    public mutating func check(pendingBytes: Int, now: Double) -> Action {
        if limits.hardBytes > 0 && pendingBytes >= limits.hardBytes { return .disconnectHardLimit }
        guard limits.softBytes > 0 && pendingBytes >= limits.softBytes else {
            softLimitReachedAt = nil
            return .keep
        }
        guard let since = softLimitReachedAt else {
            softLimitReachedAt = now
            return .keep
        }
        return now - since > Double(limits.softSeconds) ? .disconnectSoftLimit : .keep
    }
}
