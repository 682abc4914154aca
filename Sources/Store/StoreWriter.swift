import Foundation
import GracefulStop
import Logging
import LookoutCore
import LookoutMetrics
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// The one writer of the database. Everything the monitor and the alerting report is queued in
/// memory and written once per flush interval, in one transaction; then the roll-up, the expiry
/// and the size budget do a bounded amount of work. A failed flush is counted, logged and retried
/// at the next interval with nothing lost (up to `maxPendingSamples`; beyond it the oldest samples
/// are dropped and counted). Runs as a `Service`; the SQLite work happens on NIO's thread pool,
/// never on the relay's event loop or the concurrency pool.
public final class StoreWriter: Service, MonitorSink, Sendable {
    /// Flush interval, tiers, retention and bounds.
    public struct Configuration: Sendable {
        public var flushInterval: Duration = .seconds(1)
        /// The resolutions channel history is kept at, and for how long.
        public var tiers = StoreTiers.default
        /// How long state changes, alerts and source gaps are kept, in seconds.
        public var eventRetention: Double = 30 * 24 * 3600
        /// Bytes the database file and its write-ahead log together stay within.
        public var maxSize = 1 << 30
        /// Most rows one expiry step deletes from one table.
        public var expiryBatch = 20_000
        /// Most minutes of one tier one roll-up step covers.
        public var rollupMinutesPerFlush = 30
        /// Samples held while the database cannot be written.
        public var maxPendingSamples = 600_000
        /// What the flush interval is measured on.
        public var clock: any Clock<Duration> = ContinuousClock()
        /// Where the writes run (they block on SQLite).
        public var threadPool: NIOThreadPool = .singleton
        /// Seconds since the epoch: what retention and `updated_at` are reckoned from.
        public var wallClock: @Sendable () -> Double = wallClockSeconds

        public init() {}
    }

    /// What waits for the next flush.
    struct Pending: Sendable {
        var samples: [ChannelStatistics.Bucket] = []
        var consumers: [String: HeartbeatTracker.ConsumerSnapshot] = [:]
        var transitions: [HeartbeatTracker.ConsumerTransition] = []
        var alerts: [Alert] = []
        var deliveries: [AlertDelivery] = []
        var gaps: [(source: String, start: Double, end: Double)] = []
        var violations: [ViolationRecord] = []
        var integrity: [IntegrityCounts] = []
        var streamGroups: [StreamGroupRows.Poll] = []
        var shapes: [String: PayloadShape] = [:]

        var count: Int {
            samples.count + consumers.count + transitions.count + alerts.count + deliveries.count + gaps.count + violations.count + integrity.count
                + streamGroups.reduce(0) { $0 + $1.groups.count } + shapes.count
        }

        mutating func prepend(_ older: Pending) {
            samples = older.samples + samples
            consumers = older.consumers.merging(consumers) { _, newer in newer }
            transitions = older.transitions + transitions
            alerts = older.alerts + alerts
            deliveries = older.deliveries + deliveries
            gaps = older.gaps + gaps
            violations = older.violations + violations
            integrity = older.integrity + integrity
            streamGroups = older.streamGroups + streamGroups
            shapes = older.shapes.merging(shapes) { _, newer in newer }
        }
    }

    public let path: String
    public let configuration: Configuration
    private let connection: Mutex<SQLiteConnection>
    private let pending = Mutex(Pending())
    /// Per channel, the minute of the violations kept last and how many were kept in it.
    private let violationSample = Mutex<[String: (minute: Int64, kept: Int)]>([:])
    /// The consumer rows as last written, to skip unchanged ones.
    private let written = Mutex<[String: HeartbeatTracker.ConsumerSnapshot]>([:])
    /// Channel name → id in `channel_names`, as committed.
    private let channelIDs: Mutex<[String: Int64]>
    /// Per channel, the subscriber count last written (an idle bucket is written only when it
    /// changes), as committed.
    private let writtenSubscribers = Mutex<[String: Int]>([:])
    /// True from an eviction until the data is well under the budget (logged once per episode).
    private let evicting = Mutex(false)
    private let maintenance: TierMaintenance
    private let logger: Logger
    let metrics: Metrics

    /// Opens (creating if needed) and migrates the database at `path`.
    public init(path: String, configuration: Configuration = .init(), registry: PrometheusCollectorRegistry,
                logger: Logger = Logger(label: "lookout.store")) throws(StoreOpenError) {
        self.path = path
        self.configuration = configuration
        self.logger = logger
        let maintenance = TierMaintenance(tiers: configuration.tiers, eventRetention: configuration.eventRetention, maxSize: configuration.maxSize,
                                      expiryBatch: configuration.expiryBatch, rollupSpan: Int64(configuration.rollupMinutesPerFlush) * 60,
                                      settle: 5 + configuration.flushInterval.seconds)
        var channels = 0
        do {
            let connection = try SQLiteConnection(path: path, mode: .readWriteCreate)
            // Freed pages can be handed back to the file system (only settable before any table).
            if try connection.integer("PRAGMA page_count") == 0 { try connection.execute("PRAGMA auto_vacuum = INCREMENTAL") }
            try connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
            try connection.execute("PRAGMA journal_size_limit = \(maintenance.walAllowance)")
            let found = try Schema.migrate(connection)
            if try connection.integer("PRAGMA auto_vacuum") != 2 {
                // A database from before the budget: rewritten once so it can shrink.
                logger.notice("store: rewriting the database once so that it can shrink (VACUUM)", metadata: ["from_version": "\(found)"])
                try connection.execute("PRAGMA auto_vacuum = INCREMENTAL; VACUUM")
            }
            try connection.transaction { try maintenance.adopt(connection, now: configuration.wallClock()) }
            self.maintenance = maintenance
            var ids: [String: Int64] = [:]
            try connection.run("SELECT id, name FROM channel_names") { row in
                if let name = row.text(1), let id = row.integer(0) { ids[name] = id }
            }
            channels = ids.count
            channelIDs = Mutex(ids)
            self.connection = Mutex(connection)
        } catch {
            throw StoreOpenError(path: path, reason: "\(error)")
        }
        metrics = Metrics(registry: registry)
        metrics.size.set(Int64(Self.fileSize(path)))
        metrics.budget.set(Int64(configuration.maxSize))
        // Every table eviction can take from, at 0 from the start (a dashboard shows 0, not "No data").
        for table in configuration.tiers.tiers.map({ "samples_\(StoreTiers.text($0.resolution))" }) + TierMaintenance.eventTables + ["stream_group_samples"] {
            _ = metrics.evicted(table)
        }
        let tiers = configuration.tiers.tiers.map { "\(StoreTiers.text($0.resolution)) for \(StoreTiers.text(Int64($0.retention)))" }
        let perChannel = maintenance.steadyStateBytes(channels: 1)
        let expected = "store: tiers \(tiers.joined(separator: ", ")); about \(Self.mebibytes(perChannel)) per busy channel once full, "
            + "\(Self.mebibytes(perChannel * max(1, channels))) for the \(channels) channels recorded so far; "
            + "budget \(Self.mebibytes(configuration.maxSize))"
        logger.notice("\(expected)", metadata: ["path": "\(path)"])
    }

    private static func mebibytes(_ bytes: Int) -> String {
        bytes >= 10 << 20 ? "\(bytes >> 20) MiB" : String(format: "%.1f MiB", Double(bytes) / 1_048_576)
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

    /// Violations kept per channel and minute: the sample is bounded, the counts
    /// (``record(integrity:)``) are exact.
    public static let violationsPerChannelMinute = 10
    /// Violations waiting for the next flush at most (the oldest go first).
    public static let maxPendingViolations = 1000

    /// A contract violation, kept as one of its channel's sample for its minute (the first
    /// ``violationsPerChannelMinute``).
    public func record(violation: ViolationRecord) {
        let minute = Int64(violation.at / 60)
        let kept = violationSample.withLock { sample -> Bool in
            let entry = sample[violation.channel]
            let count = entry?.minute == minute ? entry!.kept : 0
            guard count < Self.violationsPerChannelMinute else { return false }
            if sample.count >= 100_000 { sample.removeAll() }
            sample[violation.channel] = (minute, count + 1)
            return true
        }
        guard kept else { return }
        enqueue { pending in
            pending.violations.append(violation)
            if pending.violations.count > Self.maxPendingViolations { pending.violations.removeFirst() }
        }
    }

    /// Integrity counts of one refresh (added to their channel's minute).
    public func record(integrity: [IntegrityCounts]) {
        enqueue { $0.integrity += integrity.filter { !$0.isEmpty } }
    }

    /// A source's subscription was lost from `start` to `end` (seconds since the epoch).
    public func recordGap(source: String, start: Double, end: Double) {
        enqueue { $0.gaps.append((source, start, end)) }
    }

    /// The monitor's events the store keeps: buckets and consumer rows, state changes,
    /// violations, integrity counts and gaps (health is the alert router's).
    public func receive(_ event: MonitorEvent) {
        switch event {
        case .refreshed(let buckets, let consumers): record(buckets: buckets, consumers: consumers)
        case .consumerTransition(let change): record(change)
        case .violation(let violation): record(violation: violation)
        case .integrity(let counts): record(integrity: counts)
        case .gap(let source, let start, let end): recordGap(source: source, start: start, end: end)
        case .shape(let channel, let shape): enqueue { $0.shapes[channel] = shape }
        case .groupTransition, .health: break
        }
    }

    func enqueue(_ body: (inout Pending) -> Void) {
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
        let pool = configuration.threadPool
        await cancelWhenStopping {
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
    /// The checkpoint waits at most a second for readers (a `lookout history` mid-query): a stop
    /// is not held for them, the log is folded back by the next open instead.
    public func close() {
        connection.withLock { connection in
            connection.waitWhenBusy(milliseconds: 1_000)
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
                let (rows, channels, subscribers) = try connection.transaction { try write(batch, to: connection, at: now) }
                channelIDs.withLock { $0.merge(channels) { _, new in new } }
                writtenSubscribers.withLock { $0.merge(subscribers) { _, new in new } }
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
                try connection.transaction {
                    try maintenance.rollUp(connection, now: now, earliestWritten: batch.samples.lazy.map(\.start).min())
                    try maintenance.expire(connection, now: now)
                }
                try keepWithinBudget(connection, now: now)
            } catch {
                metrics.errors(.maintenance).increment()
                logger.error("store roll-up, expiry or eviction failed; will retry", metadata: ["error": "\(error)"])
            }
            metrics.flushDuration.record(ContinuousClock.now - started)
            metrics.pending.set(Int64(pending.withLock { $0.count }))
            metrics.size.set(Int64(Self.fileSize(path)))
            return true
        }
    }

    /// Writes one batch; returns the rows written, the channel ids it created and the subscriber
    /// counts it wrote (remembered by the caller once the transaction commits).
    private func write(_ batch: Pending, to connection: SQLiteConnection, at now: Double) throws
        -> (rows: Int, channels: [String: Int64], subscribers: [String: Int]) {
        var rows = 0
        // A bucket with no traffic writes nothing unless its subscriber count changed: readers
        // fill the gaps with zeros and the last count.
        var subscribers = writtenSubscribers.withLock { $0 }
        var subscribersWritten: [String: Int] = [:]
        let samples = batch.samples.filter { sample in
            guard sample.messages > 0 || sample.unrouted > 0 || subscribers[sample.channel] != sample.subscribers else { return false }
            subscribers[sample.channel] = sample.subscribers
            subscribersWritten[sample.channel] = sample.subscribers
            return true
        }
        var ids = channelIDs.withLock { $0 }
        var added: [String: Int64] = [:]
        let finest = configuration.tiers.finest.resolution
        for sample in samples {
            let id: Int64
            if let known = ids[sample.channel] {
                id = known
            } else {
                try connection.run("INSERT OR IGNORE INTO channel_names (name) VALUES (?)", [.text(sample.channel)])
                guard let created = try connection.integer("SELECT id FROM channel_names WHERE name = ?", [.text(sample.channel)]) else {
                    throw SQLiteError(code: 0, message: "channel '\(sample.channel)' has no id")
                }
                id = created
                ids[sample.channel] = created
                added[sample.channel] = created
            }
            let latency = sample.latency
            func microseconds(_ seconds: Double?) -> SQLiteValue { seconds.map { .integer(Int64(($0 * 1e6).rounded())) } ?? .null }
            try connection.run("""
                INSERT INTO recent_samples (bucket, channel_id, messages, bytes, unrouted, subscribers, latency_samples,
                                            latency_p50, latency_p90, latency_p99, latency_max)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (bucket, channel_id) DO UPDATE SET
                    messages = messages + excluded.messages, bytes = bytes + excluded.bytes,
                    unrouted = unrouted + excluded.unrouted, subscribers = excluded.subscribers,
                    latency_samples = latency_samples + excluded.latency_samples,
                    latency_p50 = COALESCE(MAX(latency_p50, excluded.latency_p50), latency_p50, excluded.latency_p50),
                    latency_p90 = COALESCE(MAX(latency_p90, excluded.latency_p90), latency_p90, excluded.latency_p90),
                    latency_p99 = COALESCE(MAX(latency_p99, excluded.latency_p99), latency_p99, excluded.latency_p99),
                    latency_max = COALESCE(MAX(latency_max, excluded.latency_max), latency_max, excluded.latency_max)
                """, [
                    .integer(alignDown(sample.start, finest)), .integer(id), .integer(Int64(sample.messages)),
                    .integer(Int64(sample.bytes)), .integer(Int64(sample.unrouted)), .integer(Int64(sample.subscribers)),
                    .integer(Int64(latency.count)), microseconds(latency.quantile(0.5)), microseconds(latency.quantile(0.9)),
                    microseconds(latency.quantile(0.99)), latency.count > 0 ? microseconds(latency.maximum) : .null,
                ])
            rows += 1
        }
        let unchanged = written.withLock { written in Set(batch.consumers.filter { written[$0.key] == $0.value }.map(\.key)) }
        for (name, consumer) in batch.consumers where !unchanged.contains(name) {
            let detector = consumer.detector
            let progress = detector.progress
            try connection.run("""
                INSERT OR REPLACE INTO consumers (consumer, consumer_group, state, state_since, reason, last_heartbeat, interval,
                                                  processed, failed, channels, connection_only, updated_at,
                                                  received, pending, lag, processing_delay, missed, restarts, reconnects, kind)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [
                    .text(name), .text(consumer.group), .text(detector.state.rawValue), .real(detector.stateSince), .text(detector.reason),
                    .real(detector.lastHeartbeatAt), .real(detector.interval), .optional(detector.processed), .optional(detector.failed),
                    .text(detector.channels.isEmpty ? "[]" : Self.json(detector.channels)), .integer(detector.connectionOnly ? 1 : 0), .real(now),
                    .optional(progress.received), .optional(progress.pending), .optional(progress.lag),
                    .optional(progress.processingDelay), .integer(Int64(clamping: progress.missed)),
                    .integer(Int64(clamping: progress.restarts)), .integer(Int64(clamping: progress.reconnects)), .text(detector.kind.rawValue),
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
        for record in batch.violations {
            let violation = record.violation
            try connection.run("""
                INSERT INTO violations (at, channel, source, event_id, reason, pointer, message, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.real(record.at), .text(record.channel), violation.identity.source.map(SQLiteValue.text) ?? .null,
                      violation.identity.id.map(SQLiteValue.text) ?? .null, .text(violation.reason.rawValue), .text(violation.pointer),
                      .text(violation.message), .blob(record.payload)])
            rows += 1
        }
        for counts in batch.integrity {
            try connection.run("""
                INSERT INTO integrity_minutes (minute, channel, invalid, gaps, duplicates, out_of_order) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (minute, channel) DO UPDATE SET
                    invalid = invalid + excluded.invalid, gaps = gaps + excluded.gaps,
                    duplicates = duplicates + excluded.duplicates, out_of_order = out_of_order + excluded.out_of_order
                """, [.integer(counts.minute), .text(counts.channel), .integer(Int64(clamping: counts.invalid)),
                      .integer(Int64(clamping: counts.gaps)), .integer(Int64(clamping: counts.duplicates)),
                      .integer(Int64(clamping: counts.outOfOrder))])
            rows += 1
        }
        rows += try StreamGroupRows.write(batch.streamGroups, tiers: configuration.tiers, to: connection)
        rows += try ChannelShapeRows.write(batch.shapes, at: configuration.wallClock(), to: connection)
        return (rows, added, subscribersWritten)
    }

    /// Evicts the oldest data when the budget requires it (counted, logged once per episode),
    /// and keeps the write-ahead log within its share.
    private func keepWithinBudget(_ connection: SQLiteConnection, now: Double) throws {
        let (evicted, within, share) = try maintenance.enforceBudget(connection, now: now)
        for (table, rows) in evicted { metrics.evicted(table).increment(by: Int64(rows)) }
        // An episode lasts from the first eviction until the data falls well under the budget
        // (a store at its budget evicts every so often; that is one episode, logged once).
        let wasEvicting = evicting.withLock { state in
            defer { state = (state || !evicted.isEmpty || !within) && share > 0.75 }
            return state
        }
        if !evicted.isEmpty && !wasEvicting {
            logger.warning("store: the database reached its size budget; evicting the oldest data (lookout_store_evicted_rows_total)",
                           metadata: ["budget": "\(Self.mebibytes(configuration.maxSize))",
                                      "evicted": "\(evicted.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"])
        }
        if !within && !wasEvicting {
            logger.error("store: cannot keep the database within its budget: the last day of data alone is larger; raise store.max_size",
                         metadata: ["budget": "\(Self.mebibytes(configuration.maxSize))"])
        }
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        if wal > maintenance.walAllowance || !evicted.isEmpty {
            // Pages freed by eviction leave the file only when the log is copied back.
            try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
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

    /// Bytes of the database file and its write-ahead log.
    package static func fileSize(_ path: String) -> Int {
        ["", "-wal"].reduce(0) { total, suffix in
            total + ((try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? Int) ?? 0)
        }
    }
}
