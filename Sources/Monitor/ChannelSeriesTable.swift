import NIOCore
import Synchronization

/// The per-channel series (`lookout_channel_*` of traffic, subscribers and latency), one row
/// per channel label, written by the monitor and rendered in the Prometheus text format for
/// `/metrics`.
///
/// Beside swift-prometheus's registry for the reason ``ConsumerSeriesTable`` gives: there, each
/// channel label added copies every label of its families, so `--max-channels 20000` spent
/// minutes registering channels while the monitor held its lock. Here a channel is one entry.
public final class ChannelSeriesTable: Sendable {
    /// A monotonically growing count.
    public final class Counter: Sendable {
        private let value = Atomic<Int64>(0)
        public func increment(by amount: Int64 = 1) { value.add(amount, ordering: .relaxed) }
        var current: Int64 { value.load(ordering: .relaxed) }
    }

    /// A value that goes up and down.
    public final class Gauge: Sendable {
        private let value = Atomic<Int64>(0)
        public func set(_ newValue: Int64) { value.store(newValue, ordering: .relaxed) }
        var current: Int64 { value.load(ordering: .relaxed) }
    }

    /// Observations counted into fixed buckets, with their sum.
    public final class Histogram: Sendable {
        let upperBounds: [Double]
        private let state: Mutex<(buckets: [UInt64], sum: Double, count: UInt64)>

        init(upperBounds: [Double]) {
            self.upperBounds = upperBounds
            state = Mutex(([UInt64](repeating: 0, count: upperBounds.count), 0, 0))
        }

        public func record(_ value: Double, count: Int = 1) {
            state.withLock { state in
                if let index = upperBounds.firstIndex(where: { value <= $0 }) { state.buckets[index] += UInt64(count) }
                state.sum += value * Double(count)
                state.count += UInt64(count)
            }
        }

        /// Runs `body` on the current state without copying it.
        func withState<Result>(_ body: ((buckets: [UInt64], sum: Double, count: UInt64)) -> Result) -> Result {
            state.withLock { body($0) }
        }
    }

    /// The series of one channel label.
    public final class Series: Sendable {
        public let messages = Counter()
        public let bytes = Counter()
        public let unrouted = Counter()
        public let subscribers = Gauge()
        public let patternSubscribers = Gauge()
        public let consumptionUnknown = Gauge()
        public let latency: Histogram
        /// `channel="…"`, escaped once: what every sample of the channel carries.
        let labels: [UInt8]

        init(label: String, latencyBuckets: [Double]) {
            latency = Histogram(upperBounds: latencyBuckets)
            labels = Array(#"channel="\#(ExpositionWriter.escaped(label))""#.utf8)
        }
    }

    private let rows = Mutex<(order: [Series], index: [String: Int])>(([], [:]))
    private let latencyBuckets: [Double]
    /// `,le="…"` of each bucket and of +Inf.
    private let bucketLabels: [[UInt8]]

    public init(latencyBuckets: [Double]) {
        self.latencyBuckets = latencyBuckets
        bucketLabels = (latencyBuckets.map { "\($0)" } + ["+Inf"]).map { Array(",le=\"\($0)\"".utf8) }
    }

    /// The series of `label`, created at 0 the first time.
    public func series(for label: String) -> Series {
        rows.withLock { rows in
            if let index = rows.index[label] { return rows.order[index] }
            let created = Series(label: label, latencyBuckets: latencyBuckets)
            rows.index[label] = rows.order.count
            rows.order.append(created)
            return created
        }
    }

    /// The families with one plain sample per channel: name, type, help, value.
    private static let families: [(name: String, type: String, help: String, value: @Sendable (Series) -> Int64)] = [
        ("lookout_channel_messages_total", "counter", "Messages published on the channel.", { $0.messages.current }),
        ("lookout_channel_bytes_total", "counter", "Payload bytes published on the channel.", { $0.bytes.current }),
        ("lookout_channel_unrouted_messages_total", "counter", "Messages published while the channel had no subscriber: lost.",
         { $0.unrouted.current }),
        ("lookout_channel_subscribers", "gauge", "Current subscribers of the channel (patterns not counted).", { $0.subscribers.current }),
        ("lookout_channel_pattern_subscribers", "gauge",
         "Pattern subscriptions (PSUBSCRIBE) that receive the channel: exact on the relay (its last message's); on Redis those matching consumers.patterns or live consumers' declared globs.",
         { $0.patternSubscribers.current }),
        ("lookout_channel_consumption_unknown", "gauge",
         "1 when the channel has no subscriber and Redis holds patterns Lookout cannot attribute: it may be consumed through one (declare it in consumers.patterns); never alerted as without consumers.",
         { $0.consumptionUnknown.current }),
    ]

    /// Appends every channel's series to `out`, in the Prometheus text format. A channel's
    /// latency histogram appears with its first delivery: a channel nobody received has no
    /// latency, and twenty zero samples per such channel were most of `/metrics` at 20,000 channels.
    public func render(into out: inout ByteBuffer) {
        let all = rows.withLock { $0.order }
        guard !all.isEmpty else { return }
        let labelBytes = all.reduce(0) { $0 + $1.labels.count }
        var writer = ExpositionWriter(taking: &out)
        for (name, type, help, value) in Self.families {
            writer.header(name, type: type, help: help)
            let bytes = Array(name.utf8)
            writer.samples(maximum: ExpositionWriter.maximumLength(bytes, rows: all.count, labelBytes: labelBytes)) { samples in
                for series in all {
                    samples.begin(bytes, series.labels)
                    samples.end(value(series))
                }
            }
        }
        let name = "lookout_channel_delivery_latency_seconds"
        writer.header(name, type: "histogram", help: "Time from publish accepted to message written to a subscriber.")
        let (bucket, sum, count) = (Array("\(name)_bucket".utf8), Array("\(name)_sum".utf8), Array("\(name)_count".utf8))
        let maximum = ExpositionWriter.maximumLength(bucket, rows: all.count, labelBytes: labelBytes, extras: bucketLabels)
            + ExpositionWriter.maximumLength(sum, rows: all.count, labelBytes: labelBytes)
            + ExpositionWriter.maximumLength(count, rows: all.count, labelBytes: labelBytes)
        writer.samples(maximum: maximum) { samples in
            for series in all {
                series.latency.withState { state in
                    guard state.count > 0 else { return }
                    var cumulative: UInt64 = 0
                    for (index, bound) in bucketLabels.enumerated() {
                        cumulative = index < state.buckets.count ? cumulative + state.buckets[index] : state.count
                        samples.begin(bucket, series.labels, bound)
                        samples.end(cumulative)
                    }
                    samples.begin(sum, series.labels)
                    samples.end(state.sum)
                    samples.begin(count, series.labels)
                    samples.end(state.count)
                }
            }
        }
        out = writer.buffer
    }
}
