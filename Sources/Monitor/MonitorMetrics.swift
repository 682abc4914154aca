import LookoutCore
import LookoutMetrics
import NIOCore
import Prometheus
import Observations

/// Lookout's Prometheus metrics: the registry `/metrics` renders, and the per-channel series,
/// created on first use for each (bounded) channel label.
public final class MonitorMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// Delivery latency buckets, in seconds (``LatencyBuckets``).
    public static let latencyBuckets = LatencyBuckets.seconds

    public let observationsDropped: Counter
    public let consumersRefused: Counter
    public let channelsOverflowed: Counter
    public let trackedChannels: Gauge
    public let integritySourcesTracked: Gauge
    public let integrityDuplicateKeys: Gauge
    public let integrityUntrackedEvents: Counter
    public let monitorLag: Gauge
    public let monitorLongestIteration: Gauge
    /// The per-consumer series, rendered after the registry's.
    public let consumers: ConsumerSeriesTable
    /// The per-channel series, rendered after the registry's.
    public let channels = ChannelSeriesTable(latencyBuckets: MonitorMetrics.latencyBuckets)

    public init(version: String, commit: String = "unknown", consumerSeries: ConsumerSeriesTable.Selection = .auto) {
        consumers = ConsumerSeriesTable(selection: consumerSeries)
        monitorLongestIteration = registry.gauge("lookout_monitor_longest_iteration_seconds",
            help: "The longest single pass of the monitor's loop (drain, detectors, refresh) since start.")
        monitorLag = registry.gauge("lookout_monitor_lag_seconds",
            help: "How far behind the wall clock the monitor has taken observations in; consumers' silence is judged only up to there.")
        registry.gauge("lookout_build_info", labels: [("version", version), ("commit", commit), ("swift", LookoutVersion.swift)],
                       help: "Lookout's version, the commit it was built from and the Swift it was built with; always 1.").set(Int64(1))
        observationsDropped = registry.counter("lookout_monitor_observations_dropped_total",
            help: "Observations the monitor could not take because its queue was full.")
        consumersRefused = registry.counter("lookout_consumers_refused_total",
            help: "New consumers not tracked because the cap on tracked consumers was reached.")
        channelsOverflowed = registry.counter("lookout_channel_overflow_messages_total",
            help: "Messages counted under channel=\"__other__\" because the tracked-channel cap was reached.")
        trackedChannels = registry.gauge("lookout_channels_tracked", help: "Distinct channel labels tracked.")
        integritySourcesTracked = registry.gauge("lookout_integrity_sources_tracked",
            help: "(channel, source) sequences tracked by the event-integrity checks (capped at 10,000).")
        integrityDuplicateKeys = registry.gauge("lookout_integrity_duplicate_window_keys",
            help: "Event ids held by the duplicate windows (about 50 bytes each; capped at 1,000,000 per contract).")
        integrityUntrackedEvents = registry.counter("lookout_integrity_untracked_events_total",
            help: "Events of sources beyond the cap on tracked sequences: validated, not sequenced.")
        // Every reason from the start, so that a dashboard shows 0 rather than "No data".
        for reason in Heartbeat.Rejection.allCases { _ = invalidHeartbeats(reason) }
    }

    /// Members of a consumer group in one state (groups are few: one series per group and state).
    public func groupConsumers(_ group: String, state: ConsumerStateMachine.State) -> Gauge {
        registry.gauge("lookout_group_consumers", labels: [("group", group), ("state", state.rawValue)],
                       help: "Consumers of the group in each state.")
    }

    /// The series of one channel label.
    public typealias ChannelSeries = ChannelSeriesTable.Series

    /// The series of `label`, created at 0 on first use.
    public func series(for label: String) -> ChannelSeries {
        channels.series(for: label)
    }

    /// The event-integrity series of one channel label (its contract's checks).
    public struct IntegritySeries: Sendable {
        public let invalid: [ContractViolationReason: Counter]
        public let sequenceGaps: Counter
        public let outOfOrder: Counter
        public let duplicates: Counter
        public let restarts: Counter
        public let unvalidated: Counter
    }

    /// Every integrity series of `label`, created at 0 so a dashboard shows 0 rather than "No data".
    public func integritySeries(for label: String) -> IntegritySeries {
        let labels = [("channel", label)]
        var invalid: [ContractViolationReason: Counter] = [:]
        for reason in ContractViolationReason.allCases {
            invalid[reason] = registry.counter("lookout_channel_invalid_messages_total", labels: labels + [("reason", reason.rawValue)],
                help: "Messages that break the channel's event contract, by reason (not_json, too_large, missing_attribute, wrong_type, schema_violation, unknown_type).")
        }
        return IntegritySeries(
            invalid: invalid,
            sequenceGaps: registry.counter("lookout_channel_sequence_gaps_total", labels: labels,
                help: "Events missing from a publisher's sequence: numbers skipped and not seen within 5 s."),
            outOfOrder: registry.counter("lookout_channel_out_of_order_messages_total", labels: labels,
                help: "Events that arrived after a later number of the same source."),
            duplicates: registry.counter("lookout_channel_duplicate_messages_total", labels: labels,
                help: "Events whose (source, id) was already seen within the contract's duplicate window."),
            restarts: registry.counter("lookout_publisher_restarts_total", labels: labels,
                help: "Publishers that started their sequence again at 0 or 1."),
            unvalidated: registry.counter("lookout_channel_unvalidated_messages_total", labels: labels,
                help: "Messages on a contracted channel not judged because the checks fell behind (their sources' sequences start afresh)."))
    }

    /// `lookout_channel_event_types_total{channel,type,version}`: bounded by the contract's types
    /// (others count under type="__other__").
    public func eventTypes(_ label: String, type: String, version: String) -> Counter {
        registry.counter("lookout_channel_event_types_total", labels: [("channel", label), ("type", type), ("version", version)],
                         help: "Valid events by type and version (types with a schema in the contract; the rest as __other__).")
    }

    /// `lookout_channel_shape_changes_total{channel}`: fields or types new after the shape settled.
    public func shapeChanges(_ label: String) -> Counter {
        registry.counter("lookout_channel_shape_changes_total", labels: [("channel", label)],
                         help: "Payloads on a channel without a contract that brought a field or a JSON type not seen once its shape had settled (channels.infer_shapes).")
    }

    /// `lookout_heartbeats_invalid_total{reason}`, one series per rejection reason.
    public func invalidHeartbeats(_ reason: Heartbeat.Rejection) -> Counter {
        registry.counter("lookout_heartbeats_invalid_total", labels: [("reason", reason.rawValue)],
                             help: "Heartbeats rejected, by reason; a rejected heartbeat changes no consumer.")
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> ByteBuffer {
        var out = ByteBuffer(bytes: registry.emitToBuffer())
        channels.render(into: &out)
        consumers.render(into: &out)
        return out
    }
}
