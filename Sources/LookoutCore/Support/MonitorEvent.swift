/// What the channel monitor hands on, one typed event at a time, to every ``MonitorSink`` (the
/// store, the alert router): the monitor's one output.
public enum MonitorEvent: Sendable {
    /// A refresh closed `buckets` and found `consumers` due for a row (every consumer at shutdown).
    case refreshed(buckets: [ChannelStatistics.Bucket], consumers: [HeartbeatTracker.ConsumerSnapshot])
    /// A consumer changed state (after its series were updated).
    case consumerTransition(HeartbeatTracker.ConsumerTransition)
    /// A group became degraded, down or healthy again.
    case groupTransition(HeartbeatTracker.GroupTransition)
    /// What is unhealthy right now, after each refresh.
    case health(HealthSnapshot)
    /// A contract violation, its payload cut to the configured size.
    case violation(ViolationRecord)
    /// The integrity counts since the last refresh, per channel (never empty).
    case integrity([IntegrityCounts])
    /// What the payloads of a channel without a contract looked like so far (at most every few
    /// seconds per channel, when it took in new payloads).
    case shape(channel: String, shape: PayloadShape)
    /// A source could not see every message from `start` to `end` (seconds since the epoch).
    case gap(source: String, start: Double, end: Double)
}

/// Somewhere the monitor's events go. `receive` is called on the monitor's loop: it must return
/// at once (queue the work, or do it in memory).
public protocol MonitorSink: Sendable {
    func receive(_ event: MonitorEvent)
}
