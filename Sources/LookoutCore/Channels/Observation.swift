/// What a source saw, handed to the channel monitor.
public enum Observation: Sendable {
    /// Several messages on `channel` at once (the relay's tap sums each read batch): counts
    /// add up exactly; `at` is the batch's time. `patternReceivers`: how many pattern
    /// subscriptions received the last of them, when the source knows (the relay); nil when it
    /// cannot tell (Redis does not say who received a message).
    case traffic(channel: String, messages: Int, bytes: Int, unrouted: Int, patternReceivers: Int? = nil, at: Double)
    /// Delivery times on `channel` (relay: accepted → written; Redis: envelope timestamp), one
    /// batch's worth, each sample standing for `count` deliveries.
    case latencies(channel: String, samples: [LatencySample])
    /// A message on a channel with an event contract, for the integrity checks: its payload up
    /// to the contracts' size limit plus one byte (so a larger one is known to be larger).
    case event(channel: String, payload: [UInt8], at: Double)
    /// A message on a channel without a contract, sampled for shape inference (``ShapeSampling``).
    case sample(channel: String, payload: [UInt8])
    /// A message on the heartbeat channel, to be parsed by the heartbeat tracker; `source` names
    /// the source that carried it (its silence is not judged while that source is not watching).
    case heartbeat(payload: [UInt8], source: String = "", at: Double)
    /// A source stopped seeing every message (`watching` false: a subscription lost) or sees
    /// them all again; `at` is when that began (for a link found silent, when it fell silent).
    case sourceWatching(source: String, watching: Bool, at: Double)
    /// A named client connection now holds subscriptions, or no longer does (`left`: what it held);
    /// also (`kind` `.stream`) a Redis Streams consumer that reads (`subscribed`) or is dead, with its `group`.
    case namedConnection(name: String, subscribed: Bool, reason: String, left: ConnectionSubscriptions = .init(), group: String = "",
                         kind: ConsumerStateMachine.Kind = .connection, at: Double)
    /// Every subscription of `source` is held again after a time, from `start` to `end`, when
    /// some were not (messages went unseen then).
    case gap(source: String, start: Double, end: Double)
}

/// A delivery time standing for `count` deliveries: the relay times a run of messages on one
/// channel written to a subscriber together once (the run's first message, its longest wait),
/// so latency costs one sample per run while the counts stay exact.
public struct LatencySample: Sendable, Hashable {
    public var seconds: Double
    public var count: Int

    @inlinable public init(seconds: Double, count: Int = 1) {
        self.seconds = seconds
        self.count = count
    }
}

extension Observation {
    /// When it happened, for those that say (latencies are a batch's, with no time of their own).
    public var at: Double? {
        switch self {
        case .traffic(_, _, _, _, _, let at), .event(_, _, let at), .heartbeat(_, _, let at), .sourceWatching(_, _, let at),
             .namedConnection(_, _, _, _, _, _, let at), .gap(_, _, let at):
            at
        case .latencies, .sample:
            nil
        }
    }
}
