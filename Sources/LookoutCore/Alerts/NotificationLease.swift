/// One instance's view of its HA group's notification lease: whether it holds it, under which
/// fencing token, and until when it may act on it. Pure: fed the outcome of each claim sent to
/// Redis and the time it was sent, it never trusts a lease longer than Redis keeps it (the time
/// runs from before the claim was sent, Redis's from when it ran it).
public struct NotificationLease: Sendable, Equatable {
    /// What a claim's outcome changed.
    public enum Change: Sendable, Equatable {
        /// This instance became the holder, under a new fencing token.
        case gained(token: UInt64)
        /// It no longer holds the lease: another holds it, or it could not renew in time.
        case lost(reason: String)
    }

    /// Seconds a claim holds the lease (`ha.lease`).
    public let duration: Double
    /// The fencing token while held (also after the time ran out, until the next claim says so).
    public private(set) var heldToken: UInt64?
    /// An instance holding the lease, and its fencing token.
    public struct Holder: Sendable, Equatable {
        public var instance: String
        public var token: UInt64
    }

    /// The holder as last read from Redis; nil before the first answer.
    public private(set) var holder: Holder?
    private var validUntil = -Double.infinity

    public init(duration: Double) {
        self.duration = duration
    }

    /// Seconds between two claims: a third of the lease, so that two can fail before it lapses.
    public var renewInterval: Double { duration / 3 }

    /// The token to notify under at `now` (monotonic seconds), or nil when another instance
    /// notifies or this one could not renew within the lease.
    public func token(at now: Double) -> UInt64? {
        now < validUntil ? heldToken : nil
    }

    /// A claim sent at `sentAt` answered that this instance holds the lease under `token`.
    public mutating func held(token: UInt64, instance: String, sentAt: Double) -> Change? {
        holder = Holder(instance: instance, token: token)
        validUntil = sentAt + duration
        guard heldToken != token else { return nil }
        heldToken = token
        return .gained(token: token)
    }

    /// A claim answered that `instance` holds the lease under `token`.
    public mutating func heldElsewhere(by instance: String, token: UInt64) -> Change? {
        holder = Holder(instance: instance, token: token)
        return drop("\(instance) holds the lease (fencing token \(token))")
    }

    /// No answer (Redis unreachable, a timeout): the lease ends when its time does.
    public mutating func unanswered(at now: Double) -> Change? {
        guard heldToken != nil, now >= validUntil else { return nil }
        return drop("not renewed within the lease (\(DurationText.text(seconds: duration))): Redis did not answer")
    }

    private mutating func drop(_ reason: String) -> Change? {
        guard heldToken != nil else { return nil }
        heldToken = nil
        validUntil = -.infinity
        return .lost(reason: reason)
    }
}

/// What a new lease holder sends for one notifier: the alerts whose last state, as this instance
/// judged it, differs from what the group's delivery log says was delivered. Firing alerts the
/// log does not hold fired while nobody notified (or the old holder died before delivering);
/// resolved alerts the log still holds as firing resolved unannounced. Alerts the log holds that
/// this instance never judged are left alone: a resolution is only sent by one who saw it.
public enum NotificationHandOver {
    /// - Parameters:
    ///   - latest: the last state of every alert this instance judged (firing or resolved).
    ///   - deliveredFiring: fingerprints the log holds as delivered firing.
    public static func due(latest: [Alert], deliveredFiring: Set<String>) -> [Alert] {
        latest.filter { alert in
            switch alert.status {
            case .firing: !deliveredFiring.contains(alert.fingerprint)
            case .resolved: deliveredFiring.contains(alert.fingerprint)
            }
        }.sorted { ($0.startsAt, $0.fingerprint) < ($1.startsAt, $1.fingerprint) }
    }
}

/// Where an HA group notifies from, as `/api/v1/notifications`, the status page and `lookout top`
/// show it.
public struct NotificationStatus: Sendable, Equatable {
    /// The HA group; nil for an instance on its own (it always notifies).
    public var group: String?
    /// This instance's name in the group.
    public var instance: String?
    /// Whether this instance sends Lookout's own notifications now.
    public var notifies: Bool
    /// The holder of the lease as last read, and its fencing token.
    public var holder: String?
    public var fencingToken: UInt64?

    public init(group: String? = nil, instance: String? = nil, notifies: Bool = true, holder: String? = nil, fencingToken: UInt64? = nil) {
        self.group = group
        self.instance = instance
        self.notifies = notifies
        self.holder = holder
        self.fencingToken = fencingToken
    }

    /// One line: who notifies.
    public var summary: String {
        guard let group else { return "sent by this instance" }
        if notifies { return "sent by this instance (\(instance ?? "?")), holder of group \(group)'s lease, fencing token \(fencingToken.map(String.init) ?? "-")" }
        guard let holder else { return "group \(group): no holder known yet; this instance (\(instance ?? "?")) stands by" }
        return "sent by \(holder) (group \(group), fencing token \(fencingToken.map(String.init) ?? "-")); this instance (\(instance ?? "?")) stands by"
    }
}
