import Glob

/// The failure detector of one consumer: a pure state machine driven by heartbeats, traffic on
/// the consumer's channels, and an injected clock (`now`, seconds), so tests replay hours of
/// heartbeats in milliseconds.
///
/// - `up` → `late` after `lateAfter` × interval without a heartbeat, → `down` after `downAfter` × interval.
/// - `stalled`: heartbeats arrive, but `processed` has not moved for `stallWindow` seconds while the
///   consumer's channels carried traffic.
/// - `stopped`: the consumer said goodbye; nothing fires until it beats again.
/// - Flapping is damped: leaving `down` takes `recoveryHeartbeats` on-time heartbeats in a row, so a
///   consumer that beats once and dies again stays `down` (one alert, not a storm).
public struct ConsumerStateMachine: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, CaseIterable, Codable {
        case up, late, down, stalled, stopped
    }

    /// Detector settings; the defaults follow DESIGN.md.
    public struct Configuration: Sendable, Hashable {
        public var defaultInterval: Double = 5
        public var lateAfter: Double = 1.5
        public var downAfter: Double = 3
        public var stallWindow: Double = 60
        public var recoveryHeartbeats = 2
        /// When set, `down` is decided by φ-accrual (once it has learned a few intervals)
        /// instead of `downAfter` × interval.
        public var phiAccrual: PhiAccrual.Configuration?

        public init() {}
    }

    /// A change of state, with why it happened.
    public struct Transition: Sendable, Hashable {
        public var from: State
        public var to: State
        public var reason: String
        public var at: Double

        public init(from: State, to: State, reason: String, at: Double) {
            self.from = from
            self.to = to
            self.reason = reason
            self.at = at
        }
    }

    public let configuration: Configuration
    public private(set) var state: State = .up
    public private(set) var lastHeartbeatAt: Double
    public private(set) var interval: Double
    public private(set) var processed: UInt64?
    public private(set) var failed: UInt64?
    public private(set) var channels: [String] = []
    /// When the current state began, and why.
    public private(set) var stateSince: Double
    public private(set) var reason = ""
    /// Silence is measured from here: the last heartbeat, or the moment a restored detector
    /// resumed, whichever is later (Lookout cannot judge the time it was not running).
    private var watchedSince: Double
    /// Restored as subscribed: down if its connection does not come back within `downAfter` × interval.
    private var awaitingConnection = false
    private var processedChangedAt: Double
    private var lastTrafficAt: Double?
    private var onTimeHeartbeats = 0
    private var phi: PhiAccrual?
    /// Watched through its named, subscribed connection only (it sends no heartbeats): it is
    /// down when the connection goes, never for silence.
    public private(set) var connectionOnly = false

    /// Starts tracking a consumer that sends no heartbeats, from its named subscribed connection.
    public init(connectionAt now: Double, configuration: Configuration = .init()) {
        self.configuration = configuration
        lastHeartbeatAt = now
        watchedSince = now
        stateSince = now
        interval = configuration.defaultInterval
        processedChangedAt = now
        phi = configuration.phiAccrual.map(PhiAccrual.init(configuration:))
        connectionOnly = true
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

        public init(state: State, stateSince: Double, reason: String, lastHeartbeatAt: Double, interval: Double,
                    processed: UInt64?, failed: UInt64?, channels: [String], connectionOnly: Bool) {
            self.state = state
            self.stateSince = stateSince
            self.reason = reason
            self.lastHeartbeatAt = lastHeartbeatAt
            self.interval = interval
            self.processed = processed
            self.failed = failed
            self.channels = channels
            self.connectionOnly = connectionOnly
        }
    }

    public var saved: Saved {
        Saved(state: state, stateSince: stateSince, reason: reason, lastHeartbeatAt: lastHeartbeatAt, interval: interval,
              processed: processed, failed: failed, channels: channels, connectionOnly: connectionOnly)
    }

    /// Resumes a saved detector at `now`: same state (so nothing fires again), silence counted from
    /// `now` at the earliest.
    public init(resuming saved: Saved, at now: Double, configuration: Configuration = .init()) {
        self.configuration = configuration
        state = saved.state
        stateSince = saved.stateSince
        reason = saved.reason
        lastHeartbeatAt = saved.lastHeartbeatAt
        watchedSince = max(saved.lastHeartbeatAt, now)
        interval = saved.interval
        processed = saved.processed
        failed = saved.failed
        channels = saved.channels
        connectionOnly = saved.connectionOnly
        awaitingConnection = saved.connectionOnly && saved.state != .down
        processedChangedAt = now
        phi = configuration.phiAccrual.map(PhiAccrual.init(configuration:))
    }

    /// The consumer's named connection is subscribed again.
    public mutating func connectionOpened(at now: Double) -> Transition? {
        guard connectionOnly else { return nil }
        lastHeartbeatAt = now
        watchedSince = now
        awaitingConnection = false
        return move(to: .up, "subscribed connection is back", at: now)
    }

    /// The consumer's named connection closed or unsubscribed from everything.
    public mutating func connectionClosed(at now: Double, reason: String) -> Transition? {
        guard connectionOnly else { return nil }
        awaitingConnection = false
        return move(to: .down, reason, at: now)
    }

    /// Starts tracking a consumer at its first heartbeat.
    public init(first heartbeat: Heartbeat, at now: Double, configuration: Configuration = .init()) {
        self.configuration = configuration
        lastHeartbeatAt = now
        watchedSince = now
        stateSince = now
        interval = heartbeat.interval ?? configuration.defaultInterval
        processed = heartbeat.processed
        failed = heartbeat.failed
        channels = heartbeat.channels
        processedChangedAt = now
        phi = configuration.phiAccrual.map(PhiAccrual.init(configuration:))
        if heartbeat.stopping {
            state = .stopped
            reason = "said goodbye"
        }
    }

    /// Applies a heartbeat; returns the transition it causes, if any.
    public mutating func receive(_ heartbeat: Heartbeat, at now: Double) -> Transition? {
        connectionOnly = false
        awaitingConnection = false
        let silence = now - watchedSince
        let onTime = silence <= configuration.lateAfter * interval
        if state != .down && state != .stopped { phi?.record(silence) }
        lastHeartbeatAt = now
        watchedSince = now
        interval = heartbeat.interval ?? configuration.defaultInterval
        channels = heartbeat.channels
        failed = heartbeat.failed ?? failed
        let moved = heartbeat.processed != nil && heartbeat.processed != processed
        if heartbeat.processed != processed { processedChangedAt = now }
        processed = heartbeat.processed
        if heartbeat.stopping {
            return move(to: .stopped, "said goodbye", at: now)
        }
        switch state {
        case .up:
            return nil
        case .late:
            return move(to: .up, "heartbeat after \(Self.seconds(silence)) of silence", at: now)
        case .stalled:
            return moved ? move(to: .up, "processing resumed (processed \(processed ?? 0))", at: now) : nil
        case .stopped:
            return move(to: .up, "started again", at: now)
        case .down:
            onTimeHeartbeats = onTime ? onTimeHeartbeats + 1 : 1
            guard onTimeHeartbeats >= configuration.recoveryHeartbeats else { return nil }
            return move(to: .up, "back: \(onTimeHeartbeats) heartbeats on time", at: now)
        }
    }

    /// Notes that one of the consumer's channels carried a message.
    public mutating func noteTraffic(at now: Double) {
        lastTrafficAt = now
    }

    /// Whether `channel` is one the consumer serves (names or globs from its heartbeats).
    public func serves(_ channel: String) -> Bool {
        channels.contains { $0 == channel || GlobPattern.matches(pattern: $0, subject: channel) }
    }

    /// Checks the clock; returns the transition it causes, if any.
    public mutating func evaluate(now: Double) -> Transition? {
        if awaitingConnection, now - watchedSince >= configuration.downAfter * interval {
            awaitingConnection = false
            return move(to: .down, "subscribed connection did not come back after Lookout restarted", at: now)
        }
        guard state != .stopped, !connectionOnly else { return nil }
        let silence = now - watchedSince
        if let phi, phi.sampleCount >= 3 {
            if phi.isSuspected(elapsed: silence) {
                return state == .down ? nil : move(to: .down,
                    "no heartbeat for \(Self.seconds(silence)) (phi \(Int(phi.phi(elapsed: silence))) over \(Int(phi.configuration.threshold)))", at: now)
            }
        } else if silence >= configuration.downAfter * interval {
            return state == .down ? nil : move(to: .down, "no heartbeat for \(Self.seconds(silence)) (interval \(Self.seconds(interval)))", at: now)
        }
        if silence >= configuration.lateAfter * interval {
            return state == .up || state == .stalled
                ? move(to: .late, "no heartbeat for \(Self.seconds(silence)) (interval \(Self.seconds(interval)))", at: now) : nil
        }
        if state == .up, let processed, let lastTrafficAt, lastTrafficAt > processedChangedAt,
           now - processedChangedAt >= configuration.stallWindow {
            return move(to: .stalled,
                        "processed stuck at \(processed) for \(Self.seconds(now - processedChangedAt)) while its channels carried traffic",
                        at: now)
        }
        return nil
    }

    private mutating func move(to next: State, _ why: String, at now: Double) -> Transition? {
        guard next != state else { return nil }
        let transition = Transition(from: state, to: next, reason: why, at: now)
        state = next
        stateSince = now
        reason = why
        onTimeHeartbeats = 0
        return transition
    }

    private static func seconds(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded))s" : "\(rounded)s"
    }
}
