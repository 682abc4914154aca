/// Which consumers the store is handed at a refresh. A consumer whose standing changed (state,
/// reason, group, interval, channels, missed messages, restarts, reconnects) goes at the next
/// refresh; one whose only news is a later heartbeat or moving progress counts goes at most
/// every `routineInterval`. Without this, every consumer of a fleet beating each second was
/// rewritten every second.
public struct ConsumerRowSchedule: Sendable {
    /// What a consumer's row says besides the figures that move with every heartbeat.
    private struct Standing: Hashable, Sendable {
        var group: String
        var detector: ConsumerStateMachine.Saved

        init(_ snapshot: HeartbeatTracker.ConsumerSnapshot) {
            group = snapshot.group
            detector = snapshot.detector
            detector.lastHeartbeatAt = 0
            (detector.processed, detector.failed) = (nil, nil)
            (detector.progress.received, detector.progress.pending, detector.progress.lag, detector.progress.processingDelay) = (nil, nil, nil, nil)
        }
    }

    private struct Handed: Sendable {
        var standing: Standing
        var at: Double
    }

    public let routineInterval: Double
    private var handed: [String: Handed] = [:]
    /// The latest snapshot of each consumer that changed since it was last handed over.
    private var waiting: [String: HeartbeatTracker.ConsumerSnapshot] = [:]

    public init(routineInterval: Double = 5) {
        self.routineInterval = routineInterval
    }

    /// Consumers waiting for their row to be written.
    public var waitingCount: Int { waiting.count }

    /// Notes a consumer as it is now, after a change.
    public mutating func note(_ snapshot: HeartbeatTracker.ConsumerSnapshot) {
        waiting[snapshot.consumer] = snapshot
    }

    /// The consumers due at `now`: those whose standing changed since they were last handed
    /// over (or never were), and those whose routine news waited `routineInterval`.
    public mutating func take(at now: Double) -> [HeartbeatTracker.ConsumerSnapshot] {
        var due: [HeartbeatTracker.ConsumerSnapshot] = []
        for (name, snapshot) in waiting {
            let standing = Standing(snapshot)
            if let last = handed[name], last.standing == standing, now - last.at < routineInterval { continue }
            handed[name] = Handed(standing: standing, at: now)
            due.append(snapshot)
        }
        for snapshot in due { waiting[snapshot.consumer] = nil }
        return due
    }
}
