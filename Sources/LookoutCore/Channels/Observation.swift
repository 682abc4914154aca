/// What a source saw, handed to the channel monitor.
public enum Observation: Sendable {
    /// A message on `channel`; `receivers` when the source knows it (the relay does), nil otherwise.
    case message(channel: String, bytes: Int, receivers: Int?, at: Double)
    /// Several messages on `channel` at once (the relay's tap sums each read batch): counts
    /// add up exactly; `at` is the batch's time.
    case traffic(channel: String, messages: Int, bytes: Int, unrouted: Int, at: Double)
    /// Time from publish to delivery (relay: accepted → written; Redis: probe or envelope timestamp).
    case latency(channel: String, seconds: Double)
    /// Several delivery times on `channel` at once (one write's worth, from the relay's tap).
    case latencies(channel: String, seconds: [Double])
    /// A message on the heartbeat channel, to be parsed by the heartbeat tracker.
    case heartbeat(payload: [UInt8], at: Double)
    /// A named client connection now holds subscriptions, or no longer does.
    case namedConnection(name: String, subscribed: Bool, reason: String, at: Double)
}
