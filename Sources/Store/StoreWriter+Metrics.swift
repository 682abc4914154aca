import LookoutMetrics
import Prometheus

extension StoreWriter {
    /// The store's own series in Lookout's registry.
    struct Metrics: Sendable {
        enum Operation: String { case write, maintenance }
        let registry: PrometheusCollectorRegistry
        let rows: Counter
        let dropped: Counter
        let droppedStreamSamples: Counter
        let pending: Gauge
        let size: Gauge
        let flushDuration: DurationHistogram
        let budget: Gauge

        init(registry: PrometheusCollectorRegistry) {
            self.registry = registry
            rows = registry.counter("lookout_store_rows_written_total", help: "Rows the store wrote.")
            dropped = registry.counter("lookout_store_dropped_samples_total",
                                           help: "Channel samples dropped because the database could not be written for too long.")
            droppedStreamSamples = registry.counter("lookout_store_dropped_stream_group_samples_total",
                                                    help: "Stream group figures dropped because the database could not be written for too long.")
            pending = registry.gauge("lookout_store_pending_records", help: "Records queued for the next flush.")
            size = registry.gauge("lookout_store_size_bytes", help: "Size of the database file and its write-ahead log.")
            budget = registry.gauge("lookout_store_budget_bytes", help: "The size the database file and its write-ahead log stay within (store.max_size).")
            flushDuration = registry.histogram("lookout_store_flush_duration_seconds",
                buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                          .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)],
                help: "Time of one flush: the batch's transaction, the roll-up and the expiry.")
            for operation in [Operation.write, .maintenance] { _ = errors(operation) }
        }

        func evicted(_ table: String) -> Counter {
            registry.counter("lookout_store_evicted_rows_total", labels: [("table", table)],
                             help: "Rows deleted before their retention to keep the database within its size budget.")
        }

        func errors(_ operation: Operation) -> Counter {
            registry.counter("lookout_store_errors_total", labels: [("operation", operation.rawValue)],
                                 help: "Store operations that failed (disk full, I/O errors); each is retried.")
        }
    }
}
