import LookoutCore
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

    private struct Key: Hashable {
        var consumer: String
        var group: String
    }

    private let rows = Mutex<[Key: Row]>([:])
    public let selection: Selection

    public init(selection: Selection = .auto) {
        self.selection = selection
    }

    /// Changes (or creates) the row of `consumer` in `group`.
    public func update(consumer: String, group: String, _ body: (inout Row) -> Void) {
        rows.withLock { body(&$0[Key(consumer: consumer, group: group), default: Row()]) }
    }

    /// Sets every consumer's output buffer from `bytes` (by consumer name; 0 when absent).
    public func setOutputBuffers(_ bytes: [String: Int]) {
        rows.withLock { rows in
            for index in rows.indices { rows.values[index].outputBuffer = Int64(bytes[rows.keys[index].consumer] ?? 0) }
        }
    }

    /// The row of `consumer` in `group`, if it has one.
    public func row(consumer: String, group: String) -> Row? {
        rows.withLock { $0[Key(consumer: consumer, group: group)] }
    }

    private struct Family: Sendable {
        var name: String
        var type: String
        var help: String
        var value: @Sendable (Row) -> String
    }

    private static let families: [Family] = [
        Family(name: "lookout_consumer_up", type: "gauge",
               help: "1 while the consumer is alive (up, late, lagging or stalled), 0 when down or stopped.",
               value: { $0.state == .down || $0.state == .stopped ? "0" : "1" }),
        Family(name: "lookout_consumer_last_heartbeat_timestamp_seconds", type: "gauge",
               help: "When the consumer's last heartbeat arrived, seconds since the epoch.", value: { "\($0.lastHeartbeat)" }),
        Family(name: "lookout_consumer_processed_total", type: "counter", help: "Messages the consumer reports as processed.",
               value: { "\($0.processed)" }),
        Family(name: "lookout_consumer_failed_total", type: "counter", help: "Messages the consumer reports as failed.",
               value: { "\($0.failed)" }),
        Family(name: "lookout_consumer_lag_messages", type: "gauge",
               help: "The consumer's backlog: pending, else received - processed, else traffic on its declared channels - processed (0 when unknown).",
               value: { "\($0.lag)" }),
        Family(name: "lookout_consumer_processing_delay_seconds", type: "gauge",
               help: "Age of the last event the consumer finished (from last_event_ts) when its heartbeat said so (0 when unknown).",
               value: { "\($0.processingDelay)" }),
        Family(name: "lookout_consumer_missed_messages_total", type: "counter",
               help: "Messages published on the consumer's channels while it was not subscribed or down: lost to it.",
               value: { "\($0.missed)" }),
        Family(name: "lookout_consumer_restarts_total", type: "counter",
               help: "Restarts: a running counter (processed, received) that went backwards.", value: { "\($0.restarts)" }),
        Family(name: "lookout_consumer_reconnects_total", type: "counter",
               help: "Returns of the consumer's named connection within the reconnect grace.", value: { "\($0.reconnects)" }),
        Family(name: "lookout_consumer_output_buffer_bytes", type: "gauge",
               help: "Output its named subscribed connection has not read yet (relay: pending bytes; Redis: CLIENT LIST omem).",
               value: { "\($0.outputBuffer)" }),
    ]

    /// Appends the selected consumers' series to `out`, in the Prometheus text format.
    public func render(into out: inout [UInt8]) {
        let selected: [(labels: String, row: Row)] = rows.withLock { rows in
            let unhealthyOnly = selection == .unhealthy || (selection == .auto && rows.count > Self.autoLimit)
            guard selection != .none else { return [] }
            return rows.compactMap { key, row in
                unhealthyOnly && row.state == .up ? nil
                    : (#"consumer="\#(Self.escaped(key.consumer))",group="\#(Self.escaped(key.group))""#, row)
            }
        }
        guard !selected.isEmpty else { return }
        var text = ""
        text.reserveCapacity(selected.count * 1_200)
        for family in Self.families {
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
            for (labels, row) in selected { text += "\(family.name){\(labels)} \(family.value(row))\n" }
            if family.name == "lookout_consumer_up" {
                text += "# HELP lookout_consumer_state 1 for the consumer's current state (up, late, lagging, down, stalled, stopped), 0 for the others.\n"
                text += "# TYPE lookout_consumer_state gauge\n"
                for (labels, row) in selected {
                    for state in ConsumerStateMachine.State.allCases {
                        text += "lookout_consumer_state{\(labels),state=\"\(state.rawValue)\"} \(state == row.state ? 1 : 0)\n"
                    }
                }
            }
        }
        out += Array(text.utf8)
    }

    /// A label value as the text format writes it: backslash, double quote and newline escaped.
    static func escaped(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
