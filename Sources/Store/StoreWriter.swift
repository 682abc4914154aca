import Foundation
import Logging
import LookoutCore
import LookoutMetrics
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// Why the database could not be opened; `lookout serve` exits with status 2 on it.
public struct StoreOpenError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot open database '\(path)': \(reason)" }
}

/// The one writer of the database. Everything the monitor and the alerting report is queued in
/// memory and written once per flush interval, in one transaction; then the roll-up and the
/// expiry do a bounded amount of work. A failed flush is counted, logged and retried at the next
/// interval with nothing lost (up to `maxPendingSamples`; beyond it the oldest samples are
/// dropped and counted). Runs as a `Service`; the SQLite work happens on NIO's thread pool, never
/// on the relay's event loop or the concurrency pool.
public final class StoreWriter: Service, Sendable {
    /// Flush interval, retention and bounds.
    public struct Configuration: Sendable {
        public var flushInterval: Duration = .seconds(1)
        /// How long raw samples (one per channel per refresh) are kept, in seconds.
        public var rawRetention: Double = 24 * 3600
        /// How long one-minute roll-ups, transitions, alerts and gaps are kept, in seconds.
        public var rollupRetention: Double = 30 * 24 * 3600
        /// Most rows one expiry step deletes from one table.
        public var expiryBatch = 5_000
        /// Most minutes one roll-up step covers.
        public var rollupMinutesPerFlush = 30
        /// Samples held while the database cannot be written.
        public var maxPendingSamples = 600_000
        /// What the flush interval is measured on.
        public var clock: any Clock<Duration> = ContinuousClock()
        /// Seconds since the epoch: what retention and `updated_at` are reckoned from.
        public var wallClock: @Sendable () -> Double = wallClockSeconds

        public init() {}
    }

    private struct Pending: Sendable {
        var samples: [ChannelStatistics.Bucket] = []
        var consumers: [String: HeartbeatTracker.ConsumerSnapshot] = [:]
        var transitions: [HeartbeatTracker.ConsumerTransition] = []
        var alerts: [Alert] = []
        var deliveries: [AlertDelivery] = []
        var gaps: [(source: String, start: Double, end: Double)] = []

        var count: Int { samples.count + consumers.count + transitions.count + alerts.count + deliveries.count + gaps.count }

        mutating func prepend(_ older: Pending) {
            samples = older.samples + samples
            consumers = older.consumers.merging(consumers) { _, newer in newer }
            transitions = older.transitions + transitions
            alerts = older.alerts + alerts
            deliveries = older.deliveries + deliveries
            gaps = older.gaps + gaps
        }
    }

    public let path: String
    public let configuration: Configuration
    private let connection: Mutex<SQLiteConnection>
    private let pending = Mutex(Pending())
    /// The consumer rows as last written, to skip unchanged ones.
    private let written = Mutex<[String: HeartbeatTracker.ConsumerSnapshot]>([:])
    private let logger: Logger
    private let metrics: Metrics

    /// Opens (creating if needed) and migrates the database at `path`.
    public init(path: String, configuration: Configuration = .init(), registry: PrometheusCollectorRegistry,
                logger: Logger = Logger(label: "lookout.store")) throws(StoreOpenError) {
        self.path = path
        self.configuration = configuration
        self.logger = logger
        do {
            let connection = try SQLiteConnection(path: path, mode: .readWriteCreate)
            try connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
            try Schema.migrate(connection)
            self.connection = Mutex(connection)
        } catch {
            throw StoreOpenError(path: path, reason: "\(error)")
        }
        metrics = Metrics(registry: registry)
        metrics.size.set(Int64(Self.fileSize(path)))
    }

    // MARK: - Recording (any thread, never waits on the database)

    /// Channel buckets closed by a monitor refresh, and the consumers as they are now.
    public func record(buckets: [ChannelStatistics.Bucket], consumers: [HeartbeatTracker.ConsumerSnapshot]) {
        enqueue { pending in
            pending.samples += buckets
            for consumer in consumers { pending.consumers[consumer.consumer] = consumer }
        }
    }

    public func record(_ transition: HeartbeatTracker.ConsumerTransition) {
        enqueue { $0.transitions.append(transition) }
    }

    public func record(_ alert: Alert) {
        enqueue { $0.alerts.append(alert) }
    }

    public func record(_ delivery: AlertDelivery) {
        enqueue { $0.deliveries.append(delivery) }
    }

    /// A source's subscription was lost from `start` to `end` (seconds since the epoch).
    public func recordGap(source: String, start: Double, end: Double) {
        enqueue { $0.gaps.append((source, start, end)) }
    }

    private func enqueue(_ body: (inout Pending) -> Void) {
        let (dropped, count) = pending.withLock { pending -> (Int, Int) in
            body(&pending)
            let excess = pending.samples.count - configuration.maxPendingSamples
            if excess > 0 { pending.samples.removeFirst(excess) }
            return (max(0, excess), pending.count)
        }
        if dropped > 0 { metrics.dropped.increment(by: Int64(dropped)) }
        metrics.pending.set(Int64(count))
    }

    // MARK: - Writing

    public func run() async throws {
        let pool = NIOThreadPool.singleton
        await cancelWhenGracefulShutdown {
            await self.flushPeriodically(on: self.configuration.clock, pool: pool)
        }
        _ = try? await pool.runIfActive {
            self.flush()
            self.close()
        }
    }

    private func flushPeriodically<C: Clock<Duration>>(on clock: C, pool: NIOThreadPool) async {
        while !Task.isCancelled {
            try? await clock.sleep(for: configuration.flushInterval)
            _ = try? await pool.runIfActive { self.flush() }
        }
    }

    /// Checkpoints and closes the database, leaving one self-contained file (no -wal, no -shm).
    public func close() {
        connection.withLock { connection in
            do {
                try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            } catch {
                logger.warning("store checkpoint at close failed", metadata: ["error": "\(error)"])
            }
            connection.close()
        }
    }

    /// Writes everything queued in one transaction, then rolls up and expires a bounded amount.
    /// Returns false if the write failed (the records stay queued for the next flush).
    @discardableResult
    public func flush(now: Double? = nil) -> Bool {
        let now = now ?? configuration.wallClock()
        return connection.withLock { connection in
            let batch = pending.withLock { pending in
                defer { pending = Pending() }
                return pending
            }
            let started = ContinuousClock.now
            do {
                let rows = try connection.transaction { try write(batch, to: connection, at: now) }
                metrics.rows.increment(by: Int64(rows))
            } catch {
                pending.withLock { $0.prepend(batch) }
                metrics.errors(.write).increment()
                logger.error("store write failed; will retry", metadata: ["error": "\(error)", "queued": "\(batch.count)"])
                return false
            }
            written.withLock { written in
                for (name, consumer) in batch.consumers { written[name] = consumer }
            }
            do {
                try connection.transaction { try maintain(connection, now: now, earliestWritten: batch.samples.lazy.map(\.start).min()) }
            } catch {
                metrics.errors(.maintenance).increment()
                logger.error("store roll-up or expiry failed; will retry", metadata: ["error": "\(error)"])
            }
            metrics.flushDuration.record(ContinuousClock.now - started)
            metrics.pending.set(Int64(pending.withLock { $0.count }))
            metrics.size.set(Int64(Self.fileSize(path)))
            return true
        }
    }

    private func write(_ batch: Pending, to connection: SQLiteConnection, at now: Double) throws -> Int {
        var rows = 0
        for sample in batch.samples {
            let latency = sample.latency
            try connection.run("""
                INSERT INTO channel_samples (bucket, channel, messages, bytes, unrouted, subscribers, latency_samples,
                                             latency_p50, latency_p90, latency_p99, latency_max)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (channel, bucket) DO UPDATE SET
                    messages = messages + excluded.messages, bytes = bytes + excluded.bytes,
                    unrouted = unrouted + excluded.unrouted, subscribers = excluded.subscribers,
                    latency_samples = latency_samples + excluded.latency_samples,
                    latency_p50 = COALESCE(MAX(latency_p50, excluded.latency_p50), latency_p50, excluded.latency_p50),
                    latency_p90 = COALESCE(MAX(latency_p90, excluded.latency_p90), latency_p90, excluded.latency_p90),
                    latency_p99 = COALESCE(MAX(latency_p99, excluded.latency_p99), latency_p99, excluded.latency_p99),
                    latency_max = COALESCE(MAX(latency_max, excluded.latency_max), latency_max, excluded.latency_max)
                """, [
                    .integer(sample.start), .text(sample.channel), .integer(Int64(sample.messages)), .integer(Int64(sample.bytes)),
                    .integer(Int64(sample.unrouted)), .integer(Int64(sample.subscribers)), .integer(Int64(latency.count)),
                    .optional(latency.quantile(0.5)), .optional(latency.quantile(0.9)), .optional(latency.quantile(0.99)),
                    latency.count > 0 ? .real(latency.maximum) : .null,
                ])
            rows += 1
        }
        let unchanged = written.withLock { written in batch.consumers.filter { written[$0.key] == $0.value }.map(\.key) }
        for (name, consumer) in batch.consumers where !unchanged.contains(name) {
            let detector = consumer.detector
            let progress = detector.progress
            try connection.run("""
                INSERT OR REPLACE INTO consumers (consumer, consumer_group, state, state_since, reason, last_heartbeat, interval,
                                                  processed, failed, channels, connection_only, updated_at,
                                                  received, pending, lag, processing_delay, missed, restarts, reconnects)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [
                    .text(name), .text(consumer.group), .text(detector.state.rawValue), .real(detector.stateSince), .text(detector.reason),
                    .real(detector.lastHeartbeatAt), .real(detector.interval), .optional(detector.processed), .optional(detector.failed),
                    .text(Self.json(detector.channels)), .integer(detector.connectionOnly ? 1 : 0), .real(now),
                    .optional(progress.received), .optional(progress.pending), .optional(progress.lag),
                    .optional(progress.processingDelay), .integer(Int64(clamping: progress.missed)),
                    .integer(Int64(clamping: progress.restarts)), .integer(Int64(clamping: progress.reconnects)),
                ])
            rows += 1
        }
        for change in batch.transitions {
            let transition = change.transition
            try connection.run("""
                INSERT INTO consumer_transitions (at, consumer, consumer_group, from_state, to_state, reason, kind, missed)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.real(transition.at), .text(change.consumer), .text(change.group), .text(transition.from.rawValue),
                      .text(transition.to.rawValue), .text(transition.reason), .text(transition.kind.rawValue), .optional(transition.missed)])
            // The consumer's row follows at once, so a crash right after a transition keeps it.
            if transition.from != transition.to {
                try connection.run("UPDATE consumers SET state = ?, state_since = ?, reason = ? WHERE consumer = ? AND state_since <= ?",
                                   [.text(transition.to.rawValue), .real(transition.at), .text(transition.reason), .text(change.consumer),
                                    .real(transition.at)])
            }
            rows += 1
        }
        for alert in batch.alerts {
            try connection.run("""
                INSERT INTO alerts (fingerprint, name, labels, summary, description, starts_at, ends_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (fingerprint, starts_at) DO UPDATE SET ends_at = excluded.ends_at
                """, [.text(alert.fingerprint), .text(alert.name), .text(Self.json(alert.labels)),
                      .text(alert.annotations["summary"] ?? ""), .text(alert.annotations["description"] ?? ""),
                      .real(alert.startsAt.timeIntervalSince1970), .optional(alert.endsAt?.timeIntervalSince1970)])
            rows += 1
        }
        for delivery in batch.deliveries {
            try connection.run("""
                INSERT INTO alert_deliveries (alert_id, status, notifier, outcome, attempts, at, error)
                SELECT id, ?, ?, ?, ?, ?, ? FROM alerts WHERE fingerprint = ? AND starts_at = ?
                """, [.text(delivery.alert.status.rawValue), .text(delivery.notifier), .text(delivery.outcome.rawValue),
                      .integer(Int64(delivery.attempts)), .real(delivery.at.timeIntervalSince1970), .optional(delivery.error),
                      .text(delivery.alert.fingerprint), .real(delivery.alert.startsAt.timeIntervalSince1970)])
            rows += 1
        }
        for gap in batch.gaps {
            try connection.run("INSERT INTO source_gaps (source, started_at, ended_at) VALUES (?, ?, ?)",
                               [.text(gap.source), .real(gap.start), .real(gap.end)])
            rows += 1
        }
        return rows
    }

    /// Rolls finished minutes up (at most `rollupMinutesPerFlush` of them, plus any minute a late
    /// sample reopened) and deletes at most `expiryBatch` expired rows per table.
    private func maintain(_ connection: SQLiteConnection, now: Double, earliestWritten: Int64?) throws {
        // A minute is finished once its last raw bucket has surely been flushed.
        let finished = Int64((now - 5 - configuration.flushInterval.seconds) / 60) * 60
        var watermark = try connection.integer("SELECT value FROM store_state WHERE key = 'rolled_up_until'")
        if watermark == nil, let first = try connection.integer("SELECT MIN(bucket) FROM channel_samples") {
            watermark = first / 60 * 60
        }
        if let start = watermark {
            if let earliestWritten, earliestWritten < start {
                try rollUp(connection, from: earliestWritten / 60 * 60, to: start)
            }
            let end = min(finished, start + Int64(configuration.rollupMinutesPerFlush) * 60)
            if end > start {
                try rollUp(connection, from: start, to: end)
                try connection.run("INSERT OR REPLACE INTO store_state (key, value) VALUES ('rolled_up_until', ?)", [.integer(end)])
                watermark = end
            }
        }
        let batch = SQLiteValue.integer(Int64(configuration.expiryBatch))
        let rawCutoff = min(Int64(now - configuration.rawRetention), watermark ?? 0)
        try connection.run("""
            DELETE FROM channel_samples WHERE (channel, bucket) IN
                (SELECT channel, bucket FROM channel_samples WHERE bucket < ? ORDER BY bucket LIMIT ?)
            """, [.integer(rawCutoff), batch])
        let cutoff = now - configuration.rollupRetention
        try connection.run("""
            DELETE FROM channel_minutes WHERE (channel, bucket) IN
                (SELECT channel, bucket FROM channel_minutes WHERE bucket < ? ORDER BY bucket LIMIT ?)
            """, [.integer(Int64(cutoff)), batch])
        try connection.run("DELETE FROM consumer_transitions WHERE id IN (SELECT id FROM consumer_transitions WHERE at < ? LIMIT ?)",
                           [.real(cutoff), batch])
        try connection.run("""
            DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE ends_at IS NOT NULL AND ends_at < ? LIMIT ?)
            """, [.real(cutoff), batch])
        try connection.run("DELETE FROM source_gaps WHERE id IN (SELECT id FROM source_gaps WHERE ended_at < ? LIMIT ?)",
                           [.real(cutoff), batch])
        // A consumer not heard of for the whole retention is forgotten.
        try connection.run("""
            DELETE FROM consumers WHERE consumer IN
                (SELECT consumer FROM consumers WHERE MAX(last_heartbeat, state_since) < ? LIMIT ?)
            """, [.real(cutoff), batch])
    }

    private func rollUp(_ connection: SQLiteConnection, from start: Int64, to end: Int64) throws {
        try connection.run("""
            INSERT OR REPLACE INTO channel_minutes (bucket, channel, messages, bytes, unrouted, subscribers, latency_samples,
                                                    latency_p50, latency_p90, latency_p99, latency_max)
            SELECT bucket / 60 * 60, channel, \(Schema.combinedColumns)
            FROM channel_samples WHERE bucket >= ? AND bucket < ? GROUP BY channel, bucket / 60
            """, [.integer(start), .integer(end)])
    }

    // MARK: - Resuming after a restart

    /// The consumers as last written, to resume their detectors.
    public func savedConsumers() throws -> [HeartbeatTracker.ConsumerSnapshot] {
        try connection.withLock { try StoreReader.consumers($0, group: nil) }
    }

    /// Alerts that had not resolved when Lookout stopped.
    public func firingAlerts() throws -> [Alert] {
        try connection.withLock { try StoreReader.alerts($0, where: "ends_at IS NULL", []).map(\.alert) }
    }

    // MARK: - Helpers

    package func withConnection<T>(_ body: (SQLiteConnection) throws -> T) rethrows -> T {
        try connection.withLock { try body($0) }
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    private static func fileSize(_ path: String) -> Int {
        ["", "-wal"].reduce(0) { total, suffix in
            total + ((try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? Int) ?? 0)
        }
    }

    /// The store's own series in Lookout's registry.
    private struct Metrics: Sendable {
        enum Operation: String { case write, maintenance }
        let registry: PrometheusCollectorRegistry
        let rows: Counter
        let dropped: Counter
        let pending: Gauge
        let size: Gauge
        let flushDuration: DurationHistogram

        init(registry: PrometheusCollectorRegistry) {
            self.registry = registry
            rows = registry.counter("lookout_store_rows_written_total", help: "Rows the store wrote.")
            dropped = registry.counter("lookout_store_dropped_samples_total",
                                           help: "Channel samples dropped because the database could not be written for too long.")
            pending = registry.gauge("lookout_store_pending_records", help: "Records queued for the next flush.")
            size = registry.gauge("lookout_store_size_bytes", help: "Size of the database file and its write-ahead log.")
            flushDuration = registry.histogram("lookout_store_flush_duration_seconds",
                buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                          .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)],
                help: "Time of one flush: the batch's transaction, the roll-up and the expiry.")
            for operation in [Operation.write, .maintenance] { _ = errors(operation) }
        }

        func errors(_ operation: Operation) -> Counter {
            registry.counter("lookout_store_errors_total", labels: [("operation", operation.rawValue)],
                                 help: "Store operations that failed (disk full, I/O errors); each is retried.")
        }
    }
}

extension SQLiteValue {
    static func optional(_ value: Double?) -> SQLiteValue { value.map(SQLiteValue.real) ?? .null }
    static func optional(_ value: UInt64?) -> SQLiteValue { value.map { .integer(Int64(clamping: $0)) } ?? .null }
    static func optional(_ value: String?) -> SQLiteValue { value.map(SQLiteValue.text) ?? .null }
}
