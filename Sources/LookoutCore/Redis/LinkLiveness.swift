/// Whether a connection still answers, judged from when it last heard anything. A link that
/// stops answering without closing (a partition, a dead NAT entry, a frozen server) sends no
/// FIN and no RST: reads simply never return. After `pingAfter` of silence the link is asked
/// for a sign of life (a PING, answered even while subscribed); after `timeout` of silence it is
/// dead and must be closed and made again. Pure; times in seconds on a monotonic clock.
public struct LinkLiveness: Sendable {
    /// How long silence may last.
    public struct Configuration: Sendable, Equatable {
        /// Silence after which a PING is sent (and sent again each time this much passes).
        public var pingAfter: Double
        /// Silence after which the link is dead.
        public var timeout: Double

        /// - Parameter timeout: the bound on noticing a silent link (default 5 s); pings go out
        ///   after a fifth of it, at most every second.
        public init(timeout: Double = 5) {
            self.timeout = timeout
            self.pingAfter = min(1, timeout / 5)
        }
    }

    /// What the connection's owner does after a check.
    public enum Action: Equatable, Sendable {
        case none
        /// Send a PING: the link has been quiet for a while.
        case ping
        /// Close the link: nothing was heard for `silence` seconds.
        case declareDead(silence: Double)
    }

    public let configuration: Configuration
    private var lastHeard: Double
    private var lastPing: Double?

    /// A link made at `now` (making it counts as hearing from it).
    public init(_ configuration: Configuration = .init(), now: Double) {
        self.configuration = configuration
        lastHeard = now
    }

    /// Something arrived on the link: a reply, a message, a pong.
    public mutating func heard(at now: Double) {
        lastHeard = max(lastHeard, now)
        lastPing = nil
    }

    /// Seconds since the link was last heard from.
    public func silence(at now: Double) -> Double { max(0, now - lastHeard) }

    /// What to do now.
    public mutating func check(at now: Double) -> Action {
        let silence = silence(at: now)
        if silence >= configuration.timeout { return .declareDead(silence: silence) }
        guard silence >= configuration.pingAfter else { return .none }
        if let lastPing, now - lastPing < configuration.pingAfter { return .none }
        lastPing = now
        return .ping
    }
}
