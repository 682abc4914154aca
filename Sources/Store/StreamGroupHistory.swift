import LookoutCore
import Prometheus

/// One step of a Redis Streams consumer group's history: the largest figures its polls saw in
/// the step (nil throughout when no poll was kept for it), and the entries it lost unread then.
public struct StreamGroupPoint: Sendable, Hashable {
    public var start: Int64
    public var length: Int?
    public var consumers: Int?
    public var pending: Int?
    /// nil also when the lag was not known at any poll of the step.
    public var lag: Int?
    public var oldestUnreadAge: Double?
    public var oldestPendingAge: Double?
    public var poison: Int?
    public var lostUnread: Int
    public var deadConsumers: Int?

    /// A step no poll was kept for.
    public static func empty(_ start: Int64) -> StreamGroupPoint {
        StreamGroupPoint(start: start, lostUnread: 0)
    }
}

/// The SQL of `stream_group_samples`. A poll is written into every configured tier at least as
/// coarse as the poll interval (the coarsest tier when none is), each bucket keeping the largest
/// figures its polls saw and adding up the entries lost; each tier's rows expire with its
/// retention. No roll-up: a poll every few seconds is already coarse.
enum StreamGroupRows {
    /// One poll of the streams watch, queued for the next flush.
    struct Poll: Sendable {
        var at: Double
        var interval: Double
        var groups: [StreamGroupStatus]
    }

    /// The resolutions a poll every `interval` seconds is written at.
    static func resolutions(_ tiers: StoreTiers, interval: Double) -> [Int64] {
        let coarse = tiers.tiers.map(\.resolution).filter { Double($0) >= interval }
        return coarse.isEmpty ? [tiers.coarsest.resolution] : coarse
    }

    /// Writes `polls`; returns the rows written.
    static func write(_ polls: [Poll], tiers: StoreTiers, to connection: SQLiteConnection) throws -> Int {
        var rows = 0
        var ids: [[String]: Int64] = [:]
        for poll in polls {
            let resolutions = resolutions(tiers, interval: poll.interval)
            for group in poll.groups {
                let key = [group.stream, group.group]
                let id: Int64
                if let known = ids[key] {
                    id = known
                } else {
                    try connection.run("INSERT OR IGNORE INTO stream_groups (stream, group_name) VALUES (?, ?)", [.text(group.stream), .text(group.group)])
                    guard let found = try connection.integer("SELECT id FROM stream_groups WHERE stream = ? AND group_name = ?",
                                                             [.text(group.stream), .text(group.group)]) else {
                        throw SQLiteError(code: 0, message: "stream group '\(group.stream)' '\(group.group)' has no id")
                    }
                    id = found
                    ids[key] = found
                }
                for resolution in resolutions {
                    try connection.run("""
                        INSERT INTO stream_group_samples (resolution, bucket, group_id, length, consumers, pending, lag, oldest_unread_age,
                                                          oldest_pending_age, poison, lost_unread, dead_consumers)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (resolution, bucket, group_id) DO UPDATE SET
                            length = MAX(length, excluded.length), consumers = MAX(consumers, excluded.consumers),
                            pending = MAX(pending, excluded.pending), lag = COALESCE(MAX(lag, excluded.lag), lag, excluded.lag),
                            oldest_unread_age = COALESCE(MAX(oldest_unread_age, excluded.oldest_unread_age), oldest_unread_age, excluded.oldest_unread_age),
                            oldest_pending_age = COALESCE(MAX(oldest_pending_age, excluded.oldest_pending_age), oldest_pending_age,
                                                          excluded.oldest_pending_age),
                            poison = MAX(poison, excluded.poison), lost_unread = lost_unread + excluded.lost_unread,
                            dead_consumers = MAX(dead_consumers, excluded.dead_consumers)
                        """, [
                            .integer(resolution), .integer(alignDown(Int64(poll.at), resolution)), .integer(id), .integer(Int64(group.length)),
                            .integer(Int64(group.consumers)), .integer(Int64(group.pending)), group.lag.map { .integer(Int64($0)) } ?? .null,
                            .optional(group.oldestUnreadAge), .optional(group.oldestPendingAge),
                            .integer(Int64(group.poison)), .integer(Int64(group.lostUnreadInPoll)), .integer(Int64(group.deadConsumers.count)),
                        ])
                    rows += 1
                }
            }
        }
        return rows
    }

    /// Deletes up to `limit` rows past their tier's retention (a resolution no longer configured
    /// keeps the coarsest tier's).
    static func expire(_ connection: SQLiteConnection, tiers: StoreTiers, now: Double, limit: Int) throws {
        for resolution in try storedResolutions(connection) {
            let retention = tiers.tiers.first { $0.resolution == resolution }?.retention ?? tiers.coarsest.retention
            try deleteOldest(connection, resolution: resolution, below: Int64(now - retention), limit: limit)
        }
    }

    /// What the size budget takes, oldest first: the finest resolution's rows while a coarser one
    /// holds the same groups, else rows older than a day.
    static func evictSome(_ connection: SQLiteConnection, now: Double) throws -> Int {
        let resolutions = try storedResolutions(connection)
        guard let finest = resolutions.first else { return 0 }
        let limit = resolutions.count > 1 ? Int64.max : Int64(now - 24 * 3600)
        return try deleteOldest(connection, resolution: finest, below: limit, limit: 2_000)
    }

    /// The resolutions rows are kept at, finest first, found with one key seek each: `SELECT
    /// DISTINCT` would read the whole table, and this runs at every flush.
    static func storedResolutions(_ connection: SQLiteConnection) throws -> [Int64] {
        var resolutions: [Int64] = []
        while let next = try connection.integer("SELECT MIN(resolution) FROM stream_group_samples WHERE resolution > ?",
                                                [.integer(resolutions.last ?? Int64.min)]) {
            resolutions.append(next)
        }
        return resolutions
    }

    @discardableResult
    private static func deleteOldest(_ connection: SQLiteConnection, resolution: Int64, below bucket: Int64, limit: Int) throws -> Int {
        try connection.run("""
            DELETE FROM stream_group_samples WHERE resolution = ? AND (bucket, group_id) IN
                (SELECT bucket, group_id FROM stream_group_samples WHERE resolution = ? AND bucket < ? ORDER BY bucket LIMIT ?)
            """, [.integer(resolution), .integer(resolution), .integer(bucket), .integer(Int64(limit))])
        return connection.changes
    }
}

extension StoreWriter: StreamGroupSink {
    /// Stream polls waiting for the next flush at most (the oldest go first, counted as dropped).
    static let maxPendingStreamPolls = 120

    /// One poll of the streams watch, kept at the next flush.
    public func record(streamGroups: [StreamGroupStatus], at: Double, interval: Double) {
        var dropped = 0
        enqueue { pending in
            pending.streamGroups.append(StreamGroupRows.Poll(at: at, interval: interval, groups: streamGroups))
            let excess = pending.streamGroups.count - Self.maxPendingStreamPolls
            if excess > 0 {
                dropped = pending.streamGroups.prefix(excess).reduce(0) { $0 + $1.groups.count }
                pending.streamGroups.removeFirst(excess)
            }
        }
        if dropped > 0 { metrics.droppedStreamSamples.increment(by: Int64(dropped)) }
    }
}

extension StoreReader {
    /// A consumer group's history in steps of `step` seconds over `[since, until)`, from the
    /// finest resolution that has lost nothing of the range a coarser one still holds: one that
    /// reaches back to `since`, or whose first bucket falls in every coarser one's first bucket
    /// (the group's polls began there, nothing expired).
    public func streamGroupHistory(stream: String, group: String, since: Double, until: Double,
                                   step: Int64) throws(StoreQueryError) -> [StreamGroupPoint] {
        try attempt {
            guard let id = try connection.integer("SELECT id FROM stream_groups WHERE stream = ? AND group_name = ?", [.text(stream), .text(group)]) else {
                throw StoreQueryError("stream '\(stream)' has no recorded group '\(group)' (lookout streams lists the watched ones)", isUnknownName: true)
            }
            let first = Int64(since.rounded(.down)) / step * step
            let reach: [(resolution: Int64, first: Int64)] = try StreamGroupRows.storedResolutions(connection).compactMap { resolution in
                try connection.integer("SELECT MIN(bucket) FROM stream_group_samples WHERE resolution = ? AND group_id = ?",
                                       [.integer(resolution), .integer(id)]).map { (resolution, $0) }
            }
            var points: [Int64: StreamGroupPoint] = [:]
            let chosen = reach.indices.first { index in
                let tier = reach[index]
                return tier.first <= first || reach[(index + 1)...].allSatisfy { tier.first < $0.first + $0.resolution }
            }.map { reach[$0] }
            if let chosen {
                try connection.run("""
                    SELECT bucket / ? * ? AS step, MAX(length), MAX(consumers), MAX(pending), MAX(lag), MAX(oldest_unread_age),
                           MAX(oldest_pending_age), MAX(poison), SUM(lost_unread), MAX(dead_consumers)
                    FROM stream_group_samples WHERE resolution = ? AND bucket >= ? AND bucket < ? AND group_id = ?
                    GROUP BY step ORDER BY step
                    """, [.integer(step), .integer(step), .integer(chosen.resolution), .integer(first), .integer(Int64(until.rounded(.up))),
                          .integer(id)]) { row in
                    let start = row.integer(0) ?? 0
                    func count(_ column: Int32) -> Int? { row.integer(column).map(Int.init) }
                    points[start] = StreamGroupPoint(start: start, length: count(1), consumers: count(2), pending: count(3), lag: count(4),
                                                     oldestUnreadAge: row.real(5), oldestPendingAge: row.real(6), poison: count(7),
                                                     lostUnread: count(8) ?? 0, deadConsumers: count(9))
                }
            }
            return stride(from: first, to: Int64(until.rounded(.up)), by: Int(step)).map { points[$0] ?? .empty($0) }
        }
    }
}
