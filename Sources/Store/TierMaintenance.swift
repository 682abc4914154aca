import Foundation
import Logging
import LookoutCore
import Synchronization

/// The writer's bookkeeping between flushes, on its connection: rolling each tier up into the
/// next, expiring by retention, and keeping the file within its size budget by evicting the
/// oldest rows in a fixed order. Every step does a bounded amount of work.
package final class TierMaintenance: Sendable {
    let tiers: StoreTiers
    /// Seconds state changes, alerts and source gaps are kept.
    let eventRetention: Double
    let maxSize: Int
    let expiryBatch: Int
    let rollupSpan: Int64
    /// A finest-tier bucket is final this long after it ends (the monitor's refresh and one flush).
    let settle: Double
    /// Per tier, the bucket below which its rows are known to be gone, so that a flush whose
    /// cutoff has not moved deletes nothing (the cutoffs move once per bucket of the next tier).
    private let clearedBelow = Mutex<[Int64: Int64]>([:])

    init(tiers: StoreTiers, eventRetention: Double, maxSize: Int, expiryBatch: Int, rollupSpan: Int64, settle: Double) {
        self.tiers = tiers
        self.eventRetention = eventRetention
        self.maxSize = maxSize
        self.expiryBatch = expiryBatch
        self.rollupSpan = rollupSpan
        self.settle = settle
    }

    /// Where each stored tier stands, from the `tiers` table.
    struct Stored: Hashable {
        var resolution: Int64
        var start: Int64?
        var rolledUpUntil: Int64?
        /// Its rows are in `recent_samples` (written directly, ordered by time), not `samples`.
        var direct: Bool

        /// The table holding this tier's rows, the condition that picks them (with its values),
        /// and the table's key. For `samples`, the channel ids are spelled out so that SQLite
        /// walks the key channel by channel instead of scanning the tier.
        var rows: (table: String, condition: String, values: [SQLiteValue], key: String) {
            direct ? ("recent_samples", "1", [], "bucket, channel_id")
                : ("samples", "resolution = ? AND channel_id IN (SELECT id FROM channel_names)", [.integer(resolution)], "channel_id, bucket")
        }
    }

    /// What eviction removed, per table label, in one call.
    typealias Evicted = [String: Int]

    /// Never evicted: the last day of state changes and alerts.
    static let protectedEvents: Double = 24 * 3600
    /// The event tables eviction can take from, in its order.
    /// Event tables in the order the budget evicts them (beyond their last day), each with its
    /// time column and what else a row must satisfy to go.
    static let eventTableColumns: [(table: String, column: String, extra: String)] = [
        ("violations", "at", ""), ("integrity_minutes", "minute", ""), ("consumer_transitions", "at", ""),
        ("alerts", "starts_at", "AND ends_at IS NOT NULL AND ends_at < ?"), ("source_gaps", "started_at", ""),
    ]
    static let eventTables = eventTableColumns.map(\.table)

    static func stored(_ connection: SQLiteConnection) throws -> [Int64: Stored] {
        var result: [Int64: Stored] = [:]
        try connection.run("SELECT resolution, start, rolled_up_until, direct FROM tiers") { row in
            let resolution = row.integer(0) ?? 0
            result[resolution] = Stored(resolution: resolution, start: row.integer(1), rolledUpUntil: row.integer(2), direct: row.integer(3) == 1)
        }
        return result
    }

    /// At open: the finest configured tier is the one written directly; a stored tier no longer
    /// configured (the 60 s tier a version-3 database leaves, or one the settings dropped) is
    /// frozen where it ends and expires with the tier above it.
    func adopt(_ connection: SQLiteConnection, now: Double) throws {
        let stored = try Self.stored(connection)
        let finest = tiers.finest.resolution
        let configured = Set(tiers.tiers.map(\.resolution))
        let boundary = Int64(now) / finest * finest
        for tier in stored.values where !configured.contains(tier.resolution) && tier.rolledUpUntil == nil {
            try connection.run("UPDATE tiers SET rolled_up_until = ? WHERE resolution = ?", [.integer(boundary), .integer(tier.resolution)])
        }
        if stored[finest] == nil {
            let start: SQLiteValue = stored.isEmpty ? .null : .integer(boundary)
            try connection.run("INSERT INTO tiers (resolution, start, rolled_up_until, direct) VALUES (?, ?, NULL, 1)", [.integer(finest), start])
        } else if let tier = stored[finest], !tier.direct {
            // Was a rolled tier, is now the one written directly: its rows move to the direct table.
            try connection.run("""
                INSERT OR REPLACE INTO recent_samples
                SELECT bucket, channel_id, messages, bytes, unrouted, subscribers, latency_samples, latency_p50, latency_p90, latency_p99,
                       latency_max
                FROM samples WHERE resolution = ? AND channel_id IN (SELECT id FROM channel_names)
                """, [.integer(finest)])
            try connection.run("DELETE FROM samples WHERE resolution = ?", [.integer(finest)])
            try connection.run("UPDATE tiers SET rolled_up_until = NULL, direct = 1 WHERE resolution = ?", [.integer(finest)])
        }
    }

    // MARK: roll-up

    /// Rolls each tier up into the next, at most `rollupSpan` seconds per tier, plus anything a
    /// late sample reopened (`earliestWritten`, a finest-tier bucket below a watermark).
    func rollUp(_ connection: SQLiteConnection, now: Double, earliestWritten: Int64?) throws {
        var stored = try Self.stored(connection)
        var reopened = earliestWritten
        var sourceEnd = Int64(now - settle)  // the finest tier is complete below this
        for (source, target) in zip(tiers.tiers, tiers.tiers.dropFirst()) {
            let r = target.resolution
            let finished = alignDown(sourceEnd, r)
            var watermark = stored[r]?.rolledUpUntil
            if watermark == nil {
                // First roll: from the first whole bucket of what the source holds.
                guard let from = stored[source.resolution], let first = try firstBucket(connection, from) else { break }
                let begin = alignUp(first, r)
                try connection.run("INSERT OR REPLACE INTO tiers (resolution, start, rolled_up_until, direct) VALUES (?, ?, ?, 0)",
                                   [.integer(r), .integer(begin), .integer(begin)])
                watermark = begin
                stored[r] = Stored(resolution: r, start: begin, rolledUpUntil: begin, direct: false)
            }
            guard let start = watermark, let from = stored[source.resolution] else { break }
            if let late = reopened, late < start {
                let lateStart = max(alignDown(late, r), stored[r]?.start ?? Int64.min)
                try roll(connection, source: from, target: r, from: lateStart, to: start)
                reopened = lateStart
            } else {
                reopened = nil
            }
            let end = min(finished, start + max(r, rollupSpan / r * r))
            if end > start {
                try roll(connection, source: from, target: r, from: start, to: end)
                try connection.run("UPDATE tiers SET rolled_up_until = ? WHERE resolution = ?", [.integer(end), .integer(r)])
                stored[r]?.rolledUpUntil = end
            }
            sourceEnd = stored[r]?.rolledUpUntil ?? start
        }
    }

    private func roll(_ connection: SQLiteConnection, source: Stored, target: Int64, from: Int64, to: Int64) throws {
        let rows = source.rows
        try connection.run("""
            INSERT OR REPLACE INTO samples (resolution, channel_id, bucket, messages, bytes, unrouted, subscribers, latency_samples,
                                            latency_p50, latency_p90, latency_p99, latency_max)
            SELECT ?, channel_id, bucket / ? * ?, \(Schema.combinedColumns)
            FROM \(rows.table) WHERE \(rows.condition) AND bucket >= ? AND bucket < ?
            GROUP BY channel_id, bucket / ?
            """, [.integer(target), .integer(target), .integer(target)] + rows.values + [.integer(from), .integer(to), .integer(target)])
    }

    /// The tier's first bucket at or after its start.
    private func firstBucket(_ connection: SQLiteConnection, _ tier: Stored) throws -> Int64? {
        let rows = tier.rows
        return try connection.integer("""
            SELECT MIN(bucket) FROM \(rows.table) WHERE \(rows.condition) AND bucket >= ?
            """, rows.values + [.integer(tier.start ?? Int64.min)])
    }

    // MARK: retention

    /// Deletes at most `expiryBatch` expired rows per tier and per event table. A tier's rows go
    /// only once the next tier has rolled them up; its recorded start moves at once, so readers
    /// never count what is about to go.
    func expire(_ connection: SQLiteConnection, now: Double) throws {
        let stored = try Self.stored(connection)
        for tier in stored.values.sorted(by: { $0.resolution < $1.resolution }) {
            guard let cutoff = retentionCutoff(tier, stored: stored, now: now) else { continue }
            try advanceStart(connection, tier, to: cutoff, limit: expiryBatch)
        }
        let cutoff = now - eventRetention
        let batch = SQLiteValue.integer(Int64(expiryBatch))
        try connection.run("DELETE FROM consumer_transitions WHERE id IN (SELECT id FROM consumer_transitions WHERE at < ? LIMIT ?)",
                           [.real(cutoff), batch])
        try connection.run("DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE ends_at IS NOT NULL AND ends_at < ? LIMIT ?)",
                           [.real(cutoff), batch])
        try connection.run("DELETE FROM source_gaps WHERE id IN (SELECT id FROM source_gaps WHERE ended_at < ? LIMIT ?)", [.real(cutoff), batch])
        try connection.run("DELETE FROM violations WHERE id IN (SELECT id FROM violations WHERE at < ? LIMIT ?)", [.real(cutoff), batch])
        try StreamGroupRows.expire(connection, tiers: tiers, now: now, limit: expiryBatch)
        try connection.run("DELETE FROM integrity_minutes WHERE id IN (SELECT id FROM integrity_minutes WHERE minute < ? LIMIT ?)",
                           [.real(cutoff), batch])
        // A consumer not heard of for the whole retention is forgotten.
        try connection.run("""
            DELETE FROM consumers WHERE consumer IN (SELECT consumer FROM consumers WHERE MAX(last_heartbeat, state_since) < ? LIMIT ?)
            """, [.real(cutoff), batch])
    }

    /// The bucket below which a tier's retention says its rows go. A configured tier's is
    /// aligned to the next tier and never past that tier's roll-up (nil before it has one); a
    /// tier no longer configured keeps the retention of the configured tier above it.
    private func retentionCutoff(_ tier: Stored, stored: [Int64: Stored], now: Double) -> Int64? {
        let configured = tiers.tiers
        let retention = configured.first { $0.resolution >= tier.resolution }?.retention ?? tiers.coarsest.retention
        let byAge = Int64(now - retention)
        guard configured.contains(where: { $0.resolution == tier.resolution }) else {
            // Frozen: never past where it ends (a frozen direct tier shares its table with the live one).
            return min(alignDown(byAge, tier.resolution), tier.rolledUpUntil ?? Int64.max)
        }
        guard let next = configured.first(where: { $0.resolution > tier.resolution }) else { return alignDown(byAge, tier.resolution) }
        guard let rolled = stored[next.resolution]?.rolledUpUntil else { return nil }
        return alignDown(min(byAge, rolled), next.resolution)
    }

    /// Moves a tier's start to `cutoff` (never back) and deletes up to `limit` rows below it;
    /// returns the rows deleted.
    @discardableResult
    private func advanceStart(_ connection: SQLiteConnection, _ tier: Stored, to cutoff: Int64, limit: Int) throws -> Int {
        let start = max(tier.start ?? Int64.min, cutoff)
        if start != tier.start {
            try connection.run("UPDATE tiers SET start = ? WHERE resolution = ?", [.integer(start), .integer(tier.resolution)])
        }
        if clearedBelow.withLock({ $0[tier.resolution] }) == start { return 0 }
        let rows = tier.rows
        try connection.run("""
            DELETE FROM \(rows.table) WHERE \(rows.condition) AND (\(rows.key)) IN
                (SELECT \(rows.key) FROM \(rows.table) WHERE \(rows.condition) AND bucket < ? LIMIT ?)
            """, rows.values + rows.values + [.integer(start), .integer(Int64(limit))])
        let deleted = connection.changes
        // Cleared once a pass took less than it could. (Should the transaction roll back, the
        // rows left below the start are ignored by readers and go with the next cutoff's pass.)
        if deleted < limit { clearedBelow.withLock { $0[tier.resolution] = start } }
        // A frozen tier that is empty is gone.
        var whole = tier
        whole.start = nil
        if tier.rolledUpUntil != nil, !tiers.tiers.contains(where: { $0.resolution == tier.resolution }),
           try firstBucket(connection, whole) == nil || (tier.direct && start >= tier.rolledUpUntil!) {
            try connection.run("DELETE FROM tiers WHERE resolution = ?", [.integer(tier.resolution)])
        }
        return deleted
    }

    // MARK: budget

    /// Bytes the write-ahead log may take: a sixteenth of the budget, between 256 KiB and 64 MiB.
    var walAllowance: Int { min(64 << 20, max(256 << 10, maxSize / 16)) }
    /// Bytes of pages in use that the database file is kept under.
    var dataLimit: Int { maxSize - walAllowance }

    /// Pages in use and pages in the file, in bytes.
    package static func usage(_ connection: SQLiteConnection) throws -> (live: Int, file: Int) {
        let pageSize = Int(try connection.integer("PRAGMA page_size") ?? 4096)
        let pages = Int(try connection.integer("PRAGMA page_count") ?? 0)
        let free = Int(try connection.integer("PRAGMA freelist_count") ?? 0)
        return ((pages - free) * pageSize, pages * pageSize)
    }

    /// When the pages in use pass 95% of the data limit, evicts down to 85% in this order: the
    /// finest tiers' oldest rolled-up rows, tiers no longer configured, the coarsest tier's
    /// oldest (never its last day), then state changes, alerts and gaps older than a day. Each
    /// step is its own transaction; at most `maxSteps` per call. Returns what went, whether the
    /// budget is met, and the share of the data limit in use.
    func enforceBudget(_ connection: SQLiteConnection, now: Double, maxSteps: Int = 64) throws -> (evicted: Evicted, withinBudget: Bool, usedShare: Double) {
        var evicted: Evicted = [:]
        let live = try Self.usage(connection).live
        guard live > dataLimit * 95 / 100 else { return (evicted, true, Double(live) / Double(dataLimit)) }
        let target = dataLimit * 85 / 100
        var steps = 0
        for victim in try victims(connection, now: now) {
            while steps < maxSteps, try Self.usage(connection).live > target {
                steps += 1
                let removed = try connection.transaction { try victim.evictSome(connection) }
                if removed == 0 { break }
                evicted[victim.label, default: 0] += removed
            }
        }
        if try Self.usage(connection).file > dataLimit {
            try connection.execute("PRAGMA incremental_vacuum")
        }
        let after = try Self.usage(connection).live
        return (evicted, after <= dataLimit, Double(after) / Double(dataLimit))
    }

    /// Something eviction can take rows from, oldest first.
    struct Victim {
        var label: String
        var evictSome: (SQLiteConnection) throws -> Int
    }

    private func victims(_ connection: SQLiteConnection, now: Double) throws -> [Victim] {
        let stored = try Self.stored(connection)
        let configured = tiers.tiers.map(\.resolution)
        var result: [Victim] = []
        /// Takes a tier's oldest eighth of what may go (at least one bucket of `alignment`).
        func tierVictim(_ resolution: Int64, limit: Int64, alignment: Int64) -> Victim {
            Victim(label: "samples_\(StoreTiers.text(resolution))") { connection in
                guard let tier = try Self.stored(connection)[resolution],
                      let first = try self.firstBucket(connection, tier), first < limit else { return 0 }
                let step = max(alignment, (limit - first) / 8 / alignment * alignment)
                return try self.advanceStart(connection, tier, to: min(limit, alignDown(first, alignment) + step), limit: 200_000)
            }
        }
        for (index, resolution) in configured.enumerated().dropLast() {
            guard let rolled = stored[configured[index + 1]]?.rolledUpUntil else { continue }
            result.append(tierVictim(resolution, limit: rolled, alignment: configured[index + 1]))
        }
        for resolution in stored.keys.sorted() where !configured.contains(resolution) {
            result.append(tierVictim(resolution, limit: Int64.max, alignment: resolution))
        }
        result.append(Victim(label: "stream_group_samples") { try StreamGroupRows.evictSome($0, now: now) })
        let coarsest = tiers.coarsest.resolution
        result.append(tierVictim(coarsest, limit: alignDown(Int64(now - 24 * 3600), coarsest), alignment: coarsest))
        let protected = now - Self.protectedEvents
        for (table, column, extra) in Self.eventTableColumns {
            result.append(Victim(label: table) { connection in
                let values: [SQLiteValue] = extra.isEmpty ? [.real(protected)] : [.real(protected), .real(protected)]
                try connection.run("""
                    DELETE FROM \(table) WHERE id IN (SELECT id FROM \(table) WHERE \(column) < ? \(extra) ORDER BY \(column) LIMIT 500)
                    """, values)
                return connection.changes
            })
        }
        return result
    }

    /// The expected size once every tier is full, for `channels` busy channels.
    func steadyStateBytes(channels: Int) -> Int {
        Int(tiers.rowsPerChannel.reduce(0, +)) * channels * Self.bytesPerRow
    }

    /// Bytes one sample row takes on disk, key and page overhead included (measured by
    /// `make bench`'s store suite with latencies recorded; rows without latency take less).
    static let bytesPerRow = 44
}

/// The largest multiple of `unit` at or below `value`.
func alignDown(_ value: Int64, _ unit: Int64) -> Int64 {
    value >= 0 ? value / unit * unit : -((-value + unit - 1) / unit * unit)
}

/// The smallest multiple of `unit` at or above `value`.
func alignUp(_ value: Int64, _ unit: Int64) -> Int64 {
    -alignDown(-value, unit)
}
