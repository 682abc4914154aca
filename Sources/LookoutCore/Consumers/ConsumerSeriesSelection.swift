/// Which consumers have per-consumer series (`lookout_consumer_*`) on `/metrics`
/// (`metrics.consumer_series`); the group aggregates (`lookout_group_consumers`) are always there.
public enum ConsumerSeriesSelection: String, Sendable, Hashable, CaseIterable {
    /// Every consumer up to 1,000 consumers, only those not `up` beyond.
    case auto
    case all
    /// Only consumers that are not `up` (late, lagging, stalled, down, stopped).
    case unhealthy
    case none
}
