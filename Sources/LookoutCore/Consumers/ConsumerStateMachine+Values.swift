/// The values a consumer's detector is configured with, reports and is saved as.
extension ConsumerStateMachine {
    /// How Lookout knows the consumer: by its heartbeats, by its named subscribed connection, or
    /// as a consumer of a Redis Streams group (from `XINFO CONSUMERS`).
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case heartbeat, connection, stream
    }

    /// Detector settings; the defaults follow DESIGN.md.
    public struct Configuration: Sendable, Hashable {
        public var defaultInterval: Double = 5
        public var lateAfter: Double = 1.5
        public var downAfter: Double = 3
        public var stallWindow: Double = 60
        public var recoveryHeartbeats = 2
        /// A backlog that grew at every heartbeat for this long (seconds) makes the consumer `lagging`.
        public var lagWindow: Double = 120
        /// How long a named connection that went away may take to subscribe again (seconds)
        /// before it is `down`; a return within it is a reconnect.
        public var reconnectGrace: Double = 5
        /// When set, `down` is decided by φ-accrual (once it has learned a few intervals)
        /// instead of `downAfter` × interval.
        public var phiAccrual: PhiAccrual.Configuration?

        public init() {}
    }

    /// Something worth recording about a consumer: a change of state, or an event that leaves the
    /// state as it is (a reconnect within the grace, a restart) and never fires or resolves an alert.
    public struct Transition: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable {
            /// A change of state: logged, stored, and what alerts are made of.
            case change
            /// The named connection left; the grace runs (stored nowhere, logged at debug).
            case away
            /// The connection returned within the grace.
            case reconnect
            /// A running counter went backwards.
            case restart
        }

        public var from: State
        public var to: State
        public var reason: String
        public var at: Double
        public var kind: Kind
        /// Messages published on its channels during the outage this transition ends.
        public var missed: UInt64?

        public init(from: State, to: State, reason: String, at: Double, kind: Kind = .change, missed: UInt64? = nil) {
            self.from = from
            self.to = to
            self.reason = reason
            self.at = at
            self.kind = kind
            self.missed = missed
        }
    }

    /// What a detector needs to resume after a restart, as the store keeps it.
    public struct Saved: Sendable, Hashable {
        public var state: State
        public var stateSince: Double
        public var reason: String
        public var lastHeartbeatAt: Double
        public var interval: Double
        public var processed: UInt64?
        public var failed: UInt64?
        public var channels: [String]
        public var connectionOnly: Bool
        public var progress: Progress
        public var kind: Kind

        /// - Parameter kind: nil: a connection's when `connectionOnly`, else a heartbeat's.
        public init(state: State, stateSince: Double, reason: String, lastHeartbeatAt: Double, interval: Double,
                    processed: UInt64?, failed: UInt64?, channels: [String], connectionOnly: Bool, progress: Progress = .init(),
                    kind: Kind? = nil) {
            self.kind = kind ?? (connectionOnly ? .connection : .heartbeat)
            self.state = state
            self.stateSince = stateSince
            self.reason = reason
            self.lastHeartbeatAt = lastHeartbeatAt
            self.interval = interval
            self.processed = processed
            self.failed = failed
            self.channels = channels
            self.connectionOnly = connectionOnly
            self.progress = progress
        }
    }

    /// How far a consumer keeps up, as its heartbeats and the bus tell it.
    public struct Progress: Sendable, Hashable {
        public var received: UInt64?
        public var pending: UInt64?
        /// Its backlog: `pending`, else `received − processed`, else the traffic on its declared
        /// channels since Lookout began watching minus what it processed or failed since.
        public var lag: UInt64?
        /// Seconds between the publish time of the last event it finished and the heartbeat saying so.
        public var processingDelay: Double?
        /// Messages published on its channels while it was not subscribed (or down).
        public var missed: UInt64 = 0
        public var restarts: UInt64 = 0
        public var reconnects: UInt64 = 0

        public init(received: UInt64? = nil, pending: UInt64? = nil, lag: UInt64? = nil, processingDelay: Double? = nil,
                    missed: UInt64 = 0, restarts: UInt64 = 0, reconnects: UInt64 = 0) {
            self.received = received
            self.pending = pending
            self.lag = lag
            self.processingDelay = processingDelay
            self.missed = missed
            self.restarts = restarts
            self.reconnects = reconnects
        }
    }
}
