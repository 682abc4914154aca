import Glob

/// The failure detector of one consumer: a pure state machine driven by heartbeats, its named
/// connection, traffic on the consumer's channels, and an injected clock (`now`, seconds), so
/// tests replay hours of heartbeats in milliseconds.
///
/// - `up` → `late` after `lateAfter` × interval without a heartbeat, → `down` after `downAfter` × interval.
/// - `lagging`: its backlog grew at every heartbeat for the whole `lagWindow` (Burrow's WARNING);
///   back to `up` when the backlog shrinks.
/// - `stalled`: heartbeats arrive, but `processed` has not moved for `stallWindow` seconds while the
///   consumer's channels carried traffic.
/// - `stopped`: the consumer said goodbye; nothing fires until it beats again.
/// - A consumer watched through its named connection only is `late` while the connection is
///   away, and `down` when it has not returned within `reconnectGrace`; a return within the
///   grace is a reconnect (counted, with the messages it missed), not a failure.
/// - A running counter (`processed`, `received`) that goes backwards is a restart: counted and
///   recorded, never a state change.
/// - Flapping is damped: leaving `down` takes `recoveryHeartbeats` on-time heartbeats in a row (or
///   a returned connection that holds for the grace), so a consumer that comes back for a moment
///   and dies again stays `down` (one alert, not a storm).
public struct ConsumerStateMachine: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, CaseIterable, Codable {
        case up, late, lagging, down, stalled, stopped
    }

    public let configuration: Configuration
    public private(set) var state: State = .up
    public private(set) var lastHeartbeatAt: Double
    public private(set) var interval: Double
    public private(set) var processed: UInt64?
    public private(set) var failed: UInt64?
    public private(set) var channels: [String] = []
    public private(set) var progress = Progress()
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
    /// Watched through its named, subscribed connection only (it sends no heartbeats): judged by
    /// the connection, never by silence.
    public private(set) var connectionOnly = false
    /// How Lookout knows it; a connection's consumer that sends a heartbeat becomes a heartbeat's.
    public private(set) var kind = Kind.heartbeat

    /// The consumer's named connection, when one is tied to it.
    private enum Link: Hashable {
        case unknown, connected
        case away(since: Double)
    }
    private var link = Link.unknown
    /// What the connection was subscribed to when it left.
    public private(set) var awaySubscriptions = ConnectionSubscriptions()
    /// A connection that returned while `down`: up once it has held for the grace.
    private var returnedAt: Double?
    /// Messages missed in the outage under way.
    private var outageMissed: UInt64 = 0
    /// Messages on the declared channels since Lookout began watching, and the baseline of the
    /// traffic-based backlog.
    private var channelTraffic: UInt64 = 0
    private var lagBaseline: LagBaseline?
    private struct LagBaseline: Hashable {
        var traffic: UInt64
        var processed: UInt64
    }
    /// Whether `progress.lag` is the consumer's own figure (`pending`, `received`) rather than
    /// Lookout's estimate from the traffic on its channels. Only its own figure can make it
    /// `lagging`: a consumer that filters its channels, or shares their work with its group,
    /// would seem ever further behind by the estimate.
    private var lagIsReported = false
    /// The last backlog sample, and since when the backlog has grown at every sample.
    private var lastLag: LagSample?
    private struct LagSample: Hashable {
        var value: UInt64
        var at: Double
    }
    private var growingSince: Double?

    /// Starts tracking a consumer that sends no heartbeats, from its named subscribed connection
    /// (or, `kind` `.stream`, a stream consumer that reads).
    public init(connectionAt now: Double, kind: Kind = .connection, configuration: Configuration = .init()) {
        self.kind = kind
        self.configuration = configuration
        lastHeartbeatAt = now
        watchedSince = now
        stateSince = now
        interval = configuration.defaultInterval
        processedChangedAt = now
        phi = configuration.phiAccrual.map(PhiAccrual.init(configuration:))
        connectionOnly = true
        link = .connected
    }

    public var saved: Saved {
        Saved(state: state, stateSince: stateSince, reason: reason, lastHeartbeatAt: lastHeartbeatAt, interval: interval,
              processed: processed, failed: failed, channels: channels, connectionOnly: connectionOnly, progress: progress,
              kind: kind)
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
        kind = saved.kind
        progress = saved.progress
        awaitingConnection = saved.connectionOnly && saved.state != .down
        processedChangedAt = now
        phi = configuration.phiAccrual.map(PhiAccrual.init(configuration:))
    }

    // MARK: the named connection

    /// The consumer's named connection holds subscriptions again (or for the first time).
    public mutating func connectionOpened(at now: Double) -> Transition? {
        let awaySince: Double? = if case .away(let since) = link { since } else { nil }
        link = .connected
        awaySubscriptions = ConnectionSubscriptions()
        let withinGrace = awaySince.map { now - $0 < configuration.reconnectGrace } ?? false
        let away = awaySince.map { Self.seconds(now - $0) } ?? ""
        guard connectionOnly else {
            // Judged by its heartbeats: a quick return is counted, the state is theirs to decide.
            guard withinGrace else {
                // A long absence that is not an outage of its own: what it missed is counted,
                // and is not carried into a later outage's record.
                if state != .down { outageMissed = 0 }
                return nil
            }
            return reconnected(after: away, at: now)
        }
        lastHeartbeatAt = now
        watchedSince = now
        awaitingConnection = false
        if state == .down {
            returnedAt = now
            return nil
        }
        if withinGrace && state == .late { return reconnected(after: away, at: now) }
        return move(to: .up, "subscribed connection is back", at: now)
    }

    private mutating func reconnected(after away: String, at now: Double) -> Transition {
        progress.reconnects += 1
        let missed = outageMissed
        outageMissed = 0
        let transition = Transition(from: state, to: connectionOnly ? .up : state,
                                    reason: "reconnected after \(away), missed \(missed) messages",
                                    at: now, kind: .reconnect, missed: missed)
        if connectionOnly { enter(.up, transition.reason, at: now) }
        return transition
    }

    /// The consumer's named connection closed or unsubscribed from everything; `subscriptions`
    /// is what it held, whose messages it now misses.
    public mutating func connectionClosed(at now: Double, reason: String, subscriptions: ConnectionSubscriptions = .init()) -> Transition? {
        if case .away = link {} else {
            if state != .down { outageMissed = 0 }
            link = .away(since: now)
        }
        awaySubscriptions = subscriptions
        returnedAt = nil
        guard connectionOnly else { return nil }
        awaitingConnection = false
        guard state != .down else { return nil }
        let comeback = kind == .stream ? "reads again" : "subscribes again"
        return move(to: .late, "\(reason); down unless it \(comeback) within \(Self.seconds(configuration.reconnectGrace))",
                    at: now, kind: .away)
    }

    private var isAway: Bool {
        if case .away = link { return true }
        return false
    }

    // MARK: heartbeats

    /// Starts tracking a consumer at its first heartbeat.
    public init(first heartbeat: Heartbeat, at now: Double, configuration: Configuration = .init()) {
        self.configuration = configuration
        lastHeartbeatAt = now
        watchedSince = now
        stateSince = now
        interval = heartbeat.interval ?? configuration.defaultInterval
        processedChangedAt = now
        phi = configuration.phiAccrual.map(PhiAccrual.init(configuration:))
        record(heartbeat, at: now)
        _ = sampleBacklog(at: now)
        if heartbeat.stopping {
            state = .stopped
            reason = "said goodbye"
        }
    }

    /// Applies a heartbeat; returns what it causes: a restart, a change of state, or both.
    public mutating func receive(_ heartbeat: Heartbeat, at now: Double) -> [Transition] {
        var out: [Transition] = []
        connectionOnly = false
        if kind == .connection { kind = .heartbeat }
        awaitingConnection = false
        let silence = now - watchedSince
        let onTime = silence <= configuration.lateAfter * interval
        if state != .down && state != .stopped { phi?.record(silence) }
        lastHeartbeatAt = now
        watchedSince = now
        interval = heartbeat.interval ?? configuration.defaultInterval
        if let restart = restartReason(heartbeat) {
            progress.restarts += 1
            lagBaseline = nil
            lastLag = nil
            growingSince = nil
            out.append(Transition(from: state, to: state, reason: restart, at: now, kind: .restart))
        }
        let moved = heartbeat.processed != nil && heartbeat.processed != processed
        record(heartbeat, at: now)
        let shrank = sampleBacklog(at: now)
        if heartbeat.stopping {
            out += [move(to: .stopped, "said goodbye", at: now)].compactMap { $0 }
            return out
        }
        switch state {
        case .up, .lagging:
            break
        case .late:
            out += [move(to: .up, "heartbeat after \(Self.seconds(silence)) of silence", at: now)].compactMap { $0 }
        case .stalled:
            if moved { out += [move(to: .up, "processing resumed (processed \(processed ?? 0))", at: now)].compactMap { $0 } }
        case .stopped:
            out += [move(to: .up, "started again", at: now)].compactMap { $0 }
        case .down:
            onTimeHeartbeats = onTime ? onTimeHeartbeats + 1 : 1
            if onTimeHeartbeats >= configuration.recoveryHeartbeats {
                out += [move(to: .up, "back: \(onTimeHeartbeats) heartbeats on time", at: now)].compactMap { $0 }
            }
        }
        let backlog = progress.lag ?? 0
        if state == .up, let growingSince, now - growingSince >= configuration.lagWindow {
            out += [move(to: .lagging, "backlog grew at every heartbeat for \(Self.seconds(now - growingSince)) (now \(backlog) messages)",
                         at: now)].compactMap { $0 }
        } else if state == .lagging, shrank || !lagIsReported {
            out += [move(to: .up, lagIsReported ? "backlog shrinking (\(backlog) messages)" : "no backlog reported", at: now)]
                .compactMap { $0 }
        }
        return out
    }

    /// Why `heartbeat` means the consumer restarted (a running counter went backwards), if it does.
    private func restartReason(_ heartbeat: Heartbeat) -> String? {
        if let before = processed, let now = heartbeat.processed, now < before {
            return "restarted: processed went back from \(before) to \(now)"
        }
        if let before = progress.received, let now = heartbeat.received, now < before {
            return "restarted: received went back from \(before) to \(now)"
        }
        return nil
    }

    /// Takes in a heartbeat's figures.
    private mutating func record(_ heartbeat: Heartbeat, at now: Double) {
        channels = heartbeat.channels
        failed = heartbeat.failed ?? failed
        if heartbeat.processed != processed { processedChangedAt = now }
        processed = heartbeat.processed
        progress.received = heartbeat.received
        progress.pending = heartbeat.pending
        progress.processingDelay = heartbeat.lastEventAt.map { max(0, now - $0) }
        progress.lag = backlog()
    }

    private mutating func backlog() -> UInt64? {
        lagIsReported = true
        if let pending = progress.pending { return pending }
        if let received = progress.received, let processed { return received > processed ? received - processed : 0 }
        lagIsReported = false
        guard !channels.isEmpty, let processed else {
            lagBaseline = nil
            return nil
        }
        let finished = processed &+ (failed ?? 0)
        guard let baseline = lagBaseline, finished >= baseline.processed else {
            lagBaseline = LagBaseline(traffic: channelTraffic, processed: finished)
            return 0
        }
        let published = channelTraffic - baseline.traffic
        let done = finished - baseline.processed
        return published > done ? published - done : 0
    }

    /// Adds the current backlog to the trend; returns whether it shrank since the last sample.
    private mutating func sampleBacklog(at now: Double) -> Bool {
        guard let lag = progress.lag, lagIsReported else {
            lastLag = nil
            growingSince = nil
            return false
        }
        defer { lastLag = LagSample(value: lag, at: now) }
        guard let last = lastLag else { return false }
        if lag > last.value {
            growingSince = growingSince ?? last.at
            return false
        }
        growingSince = nil
        return lag < last.value
    }

    // MARK: traffic and the clock

    /// Notes `messages` published on `channel`: traffic for the stall check and the backlog of
    /// the channels it declares, missed messages while it is away or down.
    public mutating func noteTraffic(on channel: String, messages: Int, at now: Double) {
        let count = UInt64(max(0, messages))
        let declared = serves(channel)
        if declared {
            lastTrafficAt = now
            channelTraffic &+= count
        }
        let missing: Bool
        switch link {
        case .away: missing = declared || awaySubscriptions.matches(channel)
        case .connected: missing = false
        case .unknown: missing = declared && state == .down
        }
        if missing {
            progress.missed &+= count
            outageMissed &+= count
        }
    }

    /// Whether `channel` is one the consumer serves (names or globs from its heartbeats).
    public func serves(_ channel: String) -> Bool {
        channels.contains { $0 == channel || GlobPattern.matches(pattern: $0, subject: channel) }
    }

    /// Whether traffic on `channel` matters to it: declared, or held by its connection when it left.
    public func watches(_ channel: String) -> Bool {
        serves(channel) || (isAway && awaySubscriptions.matches(channel))
    }

    /// Whether it has any channel whose traffic matters.
    public var watchesChannels: Bool { !channels.isEmpty || (isAway && !awaySubscriptions.isEmpty) }

    /// Silence is measured from `now` at the earliest: the time before it could not be watched
    /// (the source that carries the heartbeats was not seeing them).
    public mutating func silenceCounts(from now: Double) {
        watchedSince = max(watchedSince, now)
    }

    /// Checks the clock; returns the transition it causes, if any.
    public mutating func evaluate(now: Double) -> Transition? {
        if awaitingConnection, now - watchedSince >= configuration.downAfter * interval {
            awaitingConnection = false
            return move(to: .down, "subscribed connection did not come back after Lookout restarted", at: now)
        }
        guard state != .stopped else { return nil }
        if connectionOnly {
            if case .away(let since) = link, state == .late, now - since >= configuration.reconnectGrace {
                return move(to: .down, "subscribed connection did not return within \(Self.seconds(configuration.reconnectGrace))", at: now)
            }
            if state == .down, link == .connected, let returnedAt, now - returnedAt >= configuration.reconnectGrace {
                self.returnedAt = nil
                return move(to: .up, "subscribed connection back and held for \(Self.seconds(now - returnedAt))", at: now)
            }
            return nil
        }
        let silence = now - watchedSince
        if let phi, phi.sampleCount >= 3 {
            if phi.isSuspected(elapsed: silence) {
                return state == .down ? nil : move(to: .down,
                    "no heartbeat for \(Self.seconds(silence)) (phi \(Int(min(phi.phi(elapsed: silence), 1e9))) over \(Int(phi.configuration.threshold)))", at: now)
            }
        } else if silence >= configuration.downAfter * interval {
            return state == .down ? nil : move(to: .down, "no heartbeat for \(Self.seconds(silence)) (interval \(Self.seconds(interval)))", at: now)
        }
        if silence >= configuration.lateAfter * interval {
            return state == .up || state == .stalled || state == .lagging
                ? move(to: .late, "no heartbeat for \(Self.seconds(silence)) (interval \(Self.seconds(interval)))", at: now) : nil
        }
        if state == .up || state == .lagging, let processed, let lastTrafficAt, lastTrafficAt > processedChangedAt,
           now - processedChangedAt >= configuration.stallWindow {
            return move(to: .stalled,
                        "processed stuck at \(processed) for \(Self.seconds(now - processedChangedAt)) while its channels carried traffic",
                        at: now)
        }
        return nil
    }

    /// The earliest time at which ``evaluate(now:)`` could move the machine, given that it was
    /// just evaluated at `now` and nothing else reaches it meanwhile (a heartbeat, traffic or a
    /// connection event can bring it forward, so the caller asks again after each). Until then,
    /// evaluating it returns nil: a fleet's detectors are judged when one can change, not at
    /// every tick. `now` itself when a threshold sits within a millisecond before it, so a
    /// threshold that rounding kept from firing is looked at again.
    public func nextChange(after now: Double) -> Double {
        var next = Double.infinity
        var rounding = false
        func consider(_ threshold: Double) {
            if threshold > now {
                next = min(next, threshold)
            } else if now - threshold < 0.001 {
                rounding = true
            }
        }
        if awaitingConnection { consider(watchedSince + configuration.downAfter * interval) }
        if connectionOnly {
            if case .away(let since) = link { consider(since + configuration.reconnectGrace) }
            if let returnedAt { consider(returnedAt + configuration.reconnectGrace) }
        } else if state != .stopped {
            if let phi, phi.sampleCount >= 3 {
                // A microsecond early: the closed form and φ's own arithmetic round apart.
                consider(watchedSince + phi.suspicionBegins - 1e-6)
            } else {
                consider(watchedSince + configuration.downAfter * interval)
            }
            consider(watchedSince + configuration.lateAfter * interval)
            if processed != nil, let lastTrafficAt, lastTrafficAt > processedChangedAt {
                consider(processedChangedAt + configuration.stallWindow)
            }
        }
        return rounding ? now : next
    }

    private mutating func move(to next: State, _ why: String, at now: Double, kind: Transition.Kind = .change) -> Transition? {
        guard next != state else { return nil }
        var transition = Transition(from: state, to: next, reason: why, at: now, kind: kind)
        if state == .down {
            transition.missed = outageMissed
            if outageMissed > 0 { transition.reason += ", missed \(outageMissed) messages" }
            outageMissed = 0
        } else if next == .down, !isAway {
            outageMissed = 0
        }
        enter(next, transition.reason, at: now)
        return transition
    }

    private mutating func enter(_ next: State, _ why: String, at now: Double) {
        state = next
        stateSince = now
        reason = why
        onTimeHeartbeats = 0
    }

    static func seconds(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded))s" : "\(rounded)s"
    }
}
