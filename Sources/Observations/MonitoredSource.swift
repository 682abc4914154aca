import LookoutCore
import LookoutMetrics
import Prometheus

/// Something the monitor watches: the embedded relay or a Redis server.
public protocol MonitoredSource: AnyObject, Sendable {
    /// How the source is named in metrics (`source` label), logs and `/readyz`.
    var name: String { get }
    /// Whether the source is connected and delivering.
    var isConnected: Bool { get async }
    /// Why the source is not ready (shown by `/readyz`), or nil when it is.
    var notReadyReason: String? { get async }
    /// Current subscribers per raw channel name (pattern subscribers not counted).
    func subscriberCounts() async -> [String: Int]
    /// Pattern subscriptions held by clients whose patterns the source cannot list (Redis tells
    /// only how many patterns exist, `PUBSUB NUMPAT`), Lookout's own left out; 0 for a source
    /// that knows who receives each message (the relay).
    var unattributedPatterns: Int { get async }
    /// Output not yet read by each named subscriber, in bytes.
    func namedSubscriberOutputBytes() async -> [String: Int]
    /// Reconnections and the last probe's round trip, for the status page.
    var details: SourceDetails { get async }
}

/// What the status page and the API show of a source besides whether it is ready.
public struct SourceDetails: Sendable, Hashable {
    /// Subscriptions made again after a lost connection.
    public var reconnects: UInt64
    /// The last probe's publish-to-receive time in seconds (Redis sources), nil before the first.
    public var probeRoundTrip: Double?

    public init(reconnects: UInt64 = 0, probeRoundTrip: Double? = nil) {
        self.reconnects = reconnects
        self.probeRoundTrip = probeRoundTrip
    }
}

extension MonitoredSource {
    public func namedSubscriberOutputBytes() async -> [String: Int] { [:] }
    public var unattributedPatterns: Int { get async { 0 } }
    public var details: SourceDetails { get async { SourceDetails() } }

    public var notReadyReason: String? {
        get async { await isConnected ? nil : "not connected" }
    }
}

/// The series every source writes about itself, and only it: `lookout_source_up{source}` and
/// `lookout_source_reconnects_total{source}`, both exported from the start.
public struct SourceSeries: Sendable {
    /// 1 while the source sees and can judge every message.
    public let up: Gauge
    public let reconnects: Counter

    public init(source: String, registry: PrometheusCollectorRegistry) {
        up = registry.gauge("lookout_source_up", labels: [("source", source)], help: "1 when the source sees and can judge every message: every subscription it needs (on Redis, the pattern and each shard's) is held and its subscriber counts are fresh.")
        reconnects = registry.counter("lookout_source_reconnects_total", labels: [("source", source)], help: "Reconnections after a lost connection.")
    }
}

/// Delivery latency buckets, in seconds: 50 µs to 10 s. Fixed Prometheus buckets (rather than an
/// HdrHistogram) because they aggregate across instances and channels in PromQL
/// (`histogram_quantile` over `sum by (le)`), which is how dashboards and alerts read them.
public enum LatencyBuckets {
    public static let seconds: [Double] = [
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]
}
