import LookoutCore
import NIOCore
import Synchronization

/// The per-consumer series (`lookout_consumer_*`), kept as plain values by the monitor (their
/// one writer) and rendered in the Prometheus text format for `/metrics`.
///
/// Beside swift-prometheus's registry rather than in it: a labelled series added there copies
/// every series of its family (2.4's `MetricFamily.adding`), so registering a fleet cost the
/// square of its size (5,000 consumers starting together stalled the monitor for seconds). Here
/// a consumer is one dictionary entry, and `/metrics` shows the consumers ``Selection`` asks for.
public final class ConsumerSeriesTable: Sendable {
    public typealias Selection = ConsumerSeriesSelection

    /// Past this many consumers, `auto` shows only those not `up`.
    public static let autoLimit = 1_000

    /// One consumer's values; counters are running totals since Lookout started.
    public struct Row: Sendable, Hashable {
        public var state: ConsumerStateMachine.State = .up
        public var lastHeartbeat: Double = 0
        public var processed: UInt64 = 0
        public var failed: UInt64 = 0
        public var lag: Int64 = 0
        public var processingDelay: Double = 0
        public var missed: UInt64 = 0
        public var restarts: UInt64 = 0
        public var reconnects: UInt64 = 0
        public var outputBuffer: Int64 = 0
    }

    /// A consumer as its series name it.
    struct Key: Hashable, Sendable {
        var consumer: String
        var group: String

        /// `consumer="…",group="…"`, escaped.
        var labels: [UInt8] {
            Array(#"consumer="\#(ExpositionWriter.escaped(consumer))",group="\#(ExpositionWriter.escaped(group))""#.utf8)
        }
    }

    /// A row and its labels, escaped once when the consumer is first seen.
    private struct Entry {
        var row: Row
        let labels: [UInt8]
    }

    private let rows = Mutex<[Key: Entry]>([:])
    public let selection: Selection

    public init(selection: Selection = .auto) {
        self.selection = selection
    }

    /// Changes (or creates) the row of `consumer` in `group`.
    public func update(consumer: String, group: String, _ body: (inout Row) -> Void) {
        let key = Key(consumer: consumer, group: group)
        rows.withLock { rows in
            if let index = rows.index(forKey: key) {
                body(&rows.values[index].row)
            } else {
                var row = Row()
                body(&row)
                rows[key] = Entry(row: row, labels: key.labels)
            }
        }
    }

    /// Sets every consumer's output buffer from `bytes` (by consumer name; 0 when absent).
    public func setOutputBuffers(_ bytes: [String: Int]) {
        rows.withLock { rows in
            for index in rows.indices { rows.values[index].row.outputBuffer = Int64(bytes[rows.keys[index].consumer] ?? 0) }
        }
    }

    /// The row of `consumer` in `group`, if it has one.
    public func row(consumer: String, group: String) -> Row? {
        rows.withLock { $0[Key(consumer: consumer, group: group)]?.row }
    }

    /// A family of one sample per consumer, and how it writes a row's value.
    private struct Family: Sendable {
        var name: String
        var type: String
        var help: String
        var value: @Sendable (inout ExpositionWriter.Samples, Row) -> Void
    }

    private static let families: [Family] = [
        Family(name: "lookout_consumer_up", type: "gauge",
               help: "1 while the consumer is alive (up, late, lagging or stalled), 0 when down or stopped.",
               value: { $0.end(Int64($1.state == .down || $1.state == .stopped ? 0 : 1)) }),
        Family(name: "lookout_consumer_last_heartbeat_timestamp_seconds", type: "gauge",
               help: "When the consumer's last heartbeat arrived, seconds since the epoch.", value: { $0.end($1.lastHeartbeat) }),
        Family(name: "lookout_consumer_processed_total", type: "counter", help: "Messages the consumer reports as processed.",
               value: { $0.end($1.processed) }),
        Family(name: "lookout_consumer_failed_total", type: "counter", help: "Messages the consumer reports as failed.",
               value: { $0.end($1.failed) }),
        Family(name: "lookout_consumer_lag_messages", type: "gauge",
               help: "The consumer's backlog: pending, else received - processed, else traffic on its declared channels - processed (0 when unknown).",
               value: { $0.end($1.lag) }),
        Family(name: "lookout_consumer_processing_delay_seconds", type: "gauge",
               help: "Age of the last event the consumer finished (from last_event_ts) when its heartbeat said so (0 when unknown).",
               value: { $0.end($1.processingDelay) }),
        Family(name: "lookout_consumer_missed_messages_total", type: "counter",
               help: "Messages published on the consumer's channels while it was not subscribed or down: lost to it.",
               value: { $0.end($1.missed) }),
        Family(name: "lookout_consumer_restarts_total", type: "counter",
               help: "Restarts: a running counter (processed, received) that went backwards.", value: { $0.end($1.restarts) }),
        Family(name: "lookout_consumer_reconnects_total", type: "counter",
               help: "Returns of the consumer's named connection within the reconnect grace.", value: { $0.end($1.reconnects) }),
        Family(name: "lookout_consumer_output_buffer_bytes", type: "gauge",
               help: "Output its named subscribed connection has not read yet (relay: pending bytes; Redis: CLIENT LIST omem).",
               value: { $0.end($1.outputBuffer) }),
    ]

    private static let stateLabels: [(ConsumerStateMachine.State, [UInt8])] = ConsumerStateMachine.State.allCases.map {
        ($0, Array(",state=\"\($0.rawValue)\"".utf8))
    }

    /// Appends the selected consumers' series to `out`, in the Prometheus text format.
    public func render(into out: inout ByteBuffer) {
        let selected: [(labels: [UInt8], row: Row)] = rows.withLock { rows in
            let unhealthyOnly = selection == .unhealthy || (selection == .auto && rows.count > Self.autoLimit)
            guard selection != .none else { return [] }
            return rows.values.compactMap { unhealthyOnly && $0.row.state == .up ? nil : ($0.labels, $0.row) }
        }
        guard !selected.isEmpty else { return }
        let labelBytes = selected.reduce(0) { $0 + $1.labels.count }
        var writer = ExpositionWriter(taking: &out)
        for family in Self.families {
            writer.header(family.name, type: family.type, help: family.help)
            let name = Array(family.name.utf8)
            writer.samples(maximum: ExpositionWriter.maximumLength(name, rows: selected.count, labelBytes: labelBytes)) { samples in
                for (labels, row) in selected {
                    samples.begin(name, labels)
                    family.value(&samples, row)
                }
            }
            if family.name == "lookout_consumer_up" {
                writer.header("lookout_consumer_state", type: "gauge",
                              help: "1 for the consumer's current state (up, late, lagging, down, stalled, stopped), 0 for the others.")
                let state = Array("lookout_consumer_state".utf8)
                let maximum = ExpositionWriter.maximumLength(state, rows: selected.count, labelBytes: labelBytes, extras: Self.stateLabels.map(\.1))
                writer.samples(maximum: maximum) { samples in
                    for (labels, row) in selected {
                        for (kind, extra) in Self.stateLabels {
                            samples.begin(state, labels, extra)
                            samples.end(Int64(kind == row.state ? 1 : 0))
                        }
                    }
                }
            }
        }
        out = writer.buffer
    }
}
