import Foundation
import LookoutCore

/// A question the database cannot answer: a missing file, an unknown name.
public struct StoreQueryError: Error, CustomStringConvertible, Equatable {
    public var description: String
    /// The question named a channel, consumer or group the database has never recorded.
    public var isUnknownName: Bool

    public init(_ description: String, isUnknownName: Bool = false) {
        self.description = description
        self.isUnknownName = isUnknownName
    }
}

/// One channel over a time range.
public struct ChannelSummary: Sendable, Hashable {
    public var channel: String
    public var messages: UInt64
    public var bytes: UInt64
    public var unrouted: UInt64
    /// Subscribers at the channel's latest sample in the range.
    public var subscribers: Int
    /// The largest per-bucket p99 in the range.
    public var latencyP99: Double?
    /// Start of the latest bucket with a message, if any.
    public var lastMessageAt: Double?
    /// Messages that broke the channel's event contract (0 without one).
    public var invalid: UInt64 = 0
    /// Events missing from publishers' sequences.
    public var gaps: UInt64 = 0
    /// Events seen twice within the contract's duplicate window.
    public var duplicates: UInt64 = 0
}

/// One kept contract violation.
public struct StoredViolation: Sendable, Hashable {
    public var at: Double
    public var channel: String
    public var source: String?
    public var eventID: String?
    public var reason: String
    /// JSON pointer of the failing place in the message.
    public var pointer: String
    public var message: String
    /// The payload's first bytes (as configured).
    public var payload: [UInt8]
}

/// One step of a channel's history.
public struct HistoryPoint: Sendable, Hashable {
    public var start: Int64
    public var messages: UInt64
    public var bytes: UInt64
    public var unrouted: UInt64
    /// The most subscribers seen in the step; in a step with no sample, the count of the step
    /// before (nil when there is none).
    public var subscribers: Int?
    public var latencyP50: Double?
    public var latencyP90: Double?
    public var latencyP99: Double?
    public var latencyMax: Double?
}

/// One consumer state change, as recorded.
public struct TransitionRecord: Sendable, Hashable {
    public var at: Double
    public var consumer: String
    public var group: String
    public var from: ConsumerStateMachine.State
    public var to: ConsumerStateMachine.State
    public var reason: String
    /// A change of state, a reconnect within the grace, or a restart.
    public var kind: ConsumerStateMachine.Transition.Kind
    /// Messages published on its channels during the outage it ends.
    public var missed: UInt64?
}

/// An alert and what became of its deliveries.
public struct StoredAlert: Sendable, Hashable {
    /// One delivery of the alert's firing or resolved notice.
    public struct Delivery: Sendable, Hashable {
        public var status: Alert.Status
        public var notifier: String
        public var outcome: String
        public var attempts: Int
        public var at: Double
        public var error: String?
    }

    public var alert: Alert
    public var deliveries: [Delivery]
}

/// Read-only questions to the database, for the CLI. It never creates or changes the file, and
/// reads alongside a running writer (WAL); a copied database with no server works the same.
public final class StoreReader {
    let connection: SQLiteConnection

    public init(path: String) throws(StoreQueryError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreQueryError("no database at '\(path)' (is lookout serve writing elsewhere? use --db PATH)")
        }
        do {
            connection = try SQLiteConnection(path: path, mode: .readOnly)
            let version = try connection.integer("SELECT MAX(version) FROM schema_version") ?? 0
            guard version == Schema.currentVersion else {
                throw StoreQueryError("'\(path)' has schema version \(version), this lookout reads version \(Schema.currentVersion); run lookout serve on it once to migrate")
            }
        } catch let error as StoreQueryError {
            throw error
        } catch {
            throw StoreQueryError("cannot read '\(path)': \(error)")
        }
    }

    init(connection: SQLiteConnection) {
        self.connection = connection
    }

    /// Every channel with samples in `[since, until)`, busiest first.
    public func channels(since: Double, until: Double) throws(StoreQueryError) -> [ChannelSummary] {
        try attempt {
            let plan = try plan(since: since, until: until, step: Int64.max)
            guard !plan.isEmpty else { return [] }
            let (union, values) = plan.union(channel: nil)
            // Integrity counts of the minutes that overlap the range.
            var integrity: [String: (UInt64, UInt64, UInt64)] = [:]
            try connection.run("""
                SELECT channel, SUM(invalid), SUM(gaps), SUM(duplicates) FROM integrity_minutes WHERE minute > ? - 60 AND minute < ? GROUP BY channel
                """, [.real(since), .real(until)]) { row in
                integrity[row.text(0) ?? ""] = (row.unsigned(1), row.unsigned(2), row.unsigned(3))
            }
            return try connection.query("""
                SELECT n.name, n.id, SUM(s.messages), SUM(s.bytes), SUM(s.unrouted), MAX(s.latency_p99),
                       MAX(CASE WHEN s.messages > 0 THEN s.bucket END)
                FROM (\(union)) s JOIN channel_names n ON n.id = s.channel_id
                GROUP BY s.channel_id ORDER BY SUM(s.messages) DESC, n.name
                """, values) { row in
                (id: row.integer(1) ?? 0,
                 summary: ChannelSummary(channel: row.text(0) ?? "", messages: row.unsigned(2), bytes: row.unsigned(3), unrouted: row.unsigned(4),
                                         subscribers: 0, latencyP99: row.seconds(5), lastMessageAt: row.real(6)))
            }.map { id, summary in
                var summary = summary
                let (union, values) = plan.union(channel: id)
                summary.subscribers = Int(try connection.integer("SELECT subscribers FROM (\(union)) ORDER BY bucket DESC LIMIT 1", values) ?? 0)
                if let counts = integrity[summary.channel] { (summary.invalid, summary.gaps, summary.duplicates) = counts }
                return summary
            }
        }
    }

    /// A channel's history in steps of `step` seconds over `[since, until)`; steps with no sample
    /// had no traffic (zero, with the subscriber count of the step before). Each stretch of time is read from the coarsest tier no coarser than the step
    /// that covers it; where only a coarser tier still does, its buckets stand in (a step then
    /// holds a whole coarser bucket, and the steps between are zero).
    public func history(channel: String, since: Double, until: Double, step: Int64) throws(StoreQueryError) -> [HistoryPoint] {
        try attempt {
            guard let id = try connection.integer("SELECT id FROM channel_names WHERE name = ?", [.text(channel)]) else {
                throw StoreQueryError("unknown channel '\(channel)' (lookout channels lists the recorded ones)", isUnknownName: true)
            }
            let first = Int64(since.rounded(.down)) / step * step
            var points: [Int64: HistoryPoint] = [:]
            let plan = try plan(since: Double(first), until: until, step: step)
            if !plan.isEmpty {
                let (union, values) = plan.union(channel: id)
                try connection.run("""
                    SELECT bucket / ? * ? AS step, \(Schema.combinedColumns) FROM (\(union)) GROUP BY step ORDER BY step
                    """, [.integer(step), .integer(step)] + values) { row in
                    let start = row.integer(0) ?? 0
                    points[start] = HistoryPoint(start: start, messages: row.unsigned(1), bytes: row.unsigned(2), unrouted: row.unsigned(3),
                                                 subscribers: row.integer(4).map(Int.init), latencyP50: row.seconds(6),
                                                 latencyP90: row.seconds(7), latencyP99: row.seconds(8), latencyMax: row.seconds(9))
                }
            }
            // A step with no row had no traffic, and the subscriber count last written.
            var subscribers: Int?
            return stride(from: first, to: Int64(until.rounded(.up)), by: Int(step)).map { start in
                guard let point = points[start] else {
                    return HistoryPoint(start: start, messages: 0, bytes: 0, unrouted: 0, subscribers: subscribers)
                }
                subscribers = point.subscribers ?? subscribers
                return point
            }
        }
    }

    /// Every consumer as last recorded, optionally one group's.
    public func consumers(group: String? = nil) throws(StoreQueryError) -> [HeartbeatTracker.ConsumerSnapshot] {
        try attempt {
            let consumers = try Self.consumers(connection, group: group)
            if let group, consumers.isEmpty {
                throw StoreQueryError("unknown group '\(group)' (lookout consumers lists the recorded ones)", isUnknownName: true)
            }
            return consumers
        }
    }

    /// One consumer as last recorded.
    public func consumer(_ name: String) throws(StoreQueryError) -> HeartbeatTracker.ConsumerSnapshot {
        guard let consumer = try consumers().first(where: { $0.consumer == name }) else {
            throw StoreQueryError("unknown consumer '\(name)' (lookout consumers lists the recorded ones)", isUnknownName: true)
        }
        return consumer
    }

    /// State changes in `[since, until)`, oldest first, optionally of one consumer.
    public func transitions(consumer: String? = nil, since: Double, until: Double) throws(StoreQueryError) -> [TransitionRecord] {
        try attempt {
            try connection.query("""
                SELECT at, consumer, consumer_group, from_state, to_state, reason, kind, missed FROM consumer_transitions
                WHERE at >= ? AND at < ? AND (? IS NULL OR consumer = ?) ORDER BY at, id
                """, [.real(since), .real(until), .optional(consumer), .optional(consumer)]) { row in
                TransitionRecord(at: row.real(0) ?? 0, consumer: row.text(1) ?? "", group: row.text(2) ?? "",
                                 from: row.text(3).flatMap(ConsumerStateMachine.State.init(rawValue:)) ?? .up,
                                 to: row.text(4).flatMap(ConsumerStateMachine.State.init(rawValue:)) ?? .up, reason: row.text(5) ?? "",
                                 kind: row.text(6).flatMap(ConsumerStateMachine.Transition.Kind.init(rawValue:)) ?? .change,
                                 missed: row.integer(7).map { UInt64(max(0, $0)) })
            }
        }
    }

    /// Alerts active at some point in `[since, until)`, oldest first, with their deliveries.
    public func alerts(since: Double, until: Double) throws(StoreQueryError) -> [StoredAlert] {
        try attempt {
            try Self.alerts(connection, where: "starts_at < ? AND (ends_at IS NULL OR ends_at >= ?)", [.real(until), .real(since)])
        }
    }

    /// Kept contract violations in `[since, until)`, newest first: of one channel (label) and one
    /// reason when given, at most `limit`.
    public func violations(channel: String?, reason: String?, since: Double, until: Double, limit: Int = 1000) throws(StoreQueryError) -> [StoredViolation] {
        try attempt {
            try connection.query("""
                SELECT at, channel, source, event_id, reason, pointer, message, payload FROM violations
                WHERE at >= ? AND at < ? AND (? IS NULL OR channel = ?) AND (? IS NULL OR reason = ?)
                ORDER BY at DESC, id DESC LIMIT ?
                """, [.real(since), .real(until), .optional(channel), .optional(channel), .optional(reason), .optional(reason), .integer(Int64(limit))]) { row in
                StoredViolation(at: row.real(0) ?? 0, channel: row.text(1) ?? "", source: row.text(2), eventID: row.text(3), reason: row.text(4) ?? "",
                                pointer: row.text(5) ?? "", message: row.text(6) ?? "", payload: row.blob(7))
            }
        }
    }

    // MARK: - Shared with the writer

    static func consumers(_ connection: SQLiteConnection, group: String?) throws -> [HeartbeatTracker.ConsumerSnapshot] {
        try connection.query("""
            SELECT consumer, consumer_group, state, state_since, reason, last_heartbeat, interval, processed, failed, channels,
                   connection_only, received, pending, lag, processing_delay, missed, restarts, reconnects, kind
            FROM consumers WHERE (? IS NULL OR consumer_group = ?) ORDER BY consumer
            """, [.optional(group), .optional(group)]) { row -> HeartbeatTracker.ConsumerSnapshot? in
            guard let name = row.text(0), let state = row.text(2).flatMap(ConsumerStateMachine.State.init(rawValue:)) else { return nil }
            let detector = ConsumerStateMachine.Saved(
                state: state, stateSince: row.real(3) ?? 0, reason: row.text(4) ?? "", lastHeartbeatAt: row.real(5) ?? 0,
                interval: row.real(6) ?? 5, processed: row.integer(7).map { UInt64(max(0, $0)) },
                failed: row.integer(8).map { UInt64(max(0, $0)) }, channels: decode([String].self, row.text(9)) ?? [],
                connectionOnly: row.integer(10) == 1,
                progress: .init(received: row.integer(11).map { UInt64(max(0, $0)) }, pending: row.integer(12).map { UInt64(max(0, $0)) },
                                lag: row.integer(13).map { UInt64(max(0, $0)) }, processingDelay: row.real(14),
                                missed: UInt64(max(0, row.integer(15) ?? 0)), restarts: UInt64(max(0, row.integer(16) ?? 0)),
                                reconnects: UInt64(max(0, row.integer(17) ?? 0))),
                kind: row.text(18).flatMap(ConsumerStateMachine.Kind.init(rawValue:)))
            return HeartbeatTracker.ConsumerSnapshot(consumer: name, group: row.text(1) ?? "", detector: detector)
        }.compactMap { $0 }
    }

    static func alerts(_ connection: SQLiteConnection, where condition: String, _ values: [SQLiteValue]) throws -> [StoredAlert] {
        let alerts = try connection.query("""
            SELECT id, labels, summary, description, starts_at, ends_at FROM alerts WHERE \(condition) ORDER BY starts_at, id
            """, values) { row in
            (id: row.integer(0) ?? 0,
             alert: Alert(labels: decode([String: String].self, row.text(1)) ?? [:],
                          annotations: ["summary": row.text(2) ?? "", "description": row.text(3) ?? ""].filter { !$0.value.isEmpty },
                          startsAt: Date(timeIntervalSince1970: row.real(4) ?? 0),
                          endsAt: row.real(5).map(Date.init(timeIntervalSince1970:))))
        }
        return try alerts.map { id, alert in
            let deliveries = try connection.query("""
                SELECT status, notifier, outcome, attempts, at, error FROM alert_deliveries WHERE alert_id = ? ORDER BY at, id
                """, [.integer(id)]) { row in
                StoredAlert.Delivery(status: row.text(0).flatMap(Alert.Status.init(rawValue:)) ?? .firing, notifier: row.text(1) ?? "",
                                     outcome: row.text(2) ?? "", attempts: Int(row.integer(3) ?? 0), at: row.real(4) ?? 0, error: row.text(5))
            }
            return StoredAlert(alert: alert, deliveries: deliveries)
        }
    }

    // MARK: - Helpers

    /// Which tier answers for which stretch of `[since, until)`, and where its rows are.
    private func plan(since: Double, until: Double, step: Int64) throws -> Plan {
        var coverage: [TierPlan.Coverage] = []
        var direct: Set<Int64> = []
        try connection.run("SELECT resolution, start, rolled_up_until, direct FROM tiers") { row in
            let resolution = row.integer(0) ?? 1
            coverage.append(TierPlan.Coverage(resolution: resolution, start: row.integer(1), end: row.integer(2)))
            if row.integer(3) == 1 { direct.insert(resolution) }
        }
        return Plan(segments: TierPlan.segments(coverage, since: Int64(since.rounded(.down)), until: Int64(until.rounded(.up)), step: step),
                    direct: direct)
    }

    private struct Plan {
        var segments: [TierPlan.Segment]
        /// Tiers whose rows are in `recent_samples`.
        var direct: Set<Int64>

        var isEmpty: Bool { segments.isEmpty }

        static let columns = "bucket, channel_id, messages, bytes, unrouted, subscribers, latency_samples, latency_p50, latency_p90, latency_p99, latency_max"

        /// The segments' rows, of one channel or of all, with the columns of `columns`. One
        /// channel's stretch of the time-ordered table is read by seeking each bucket (a range
        /// scan there would read every channel's rows).
        func union(channel: Int64?) -> (String, [SQLiteValue]) {
            let seekStep = direct.min() ?? 1
            var parts: [String] = []
            var values: [SQLiteValue] = []
            for segment in segments {
                switch (direct.contains(segment.resolution), channel) {
                case (true, let channel?):
                    parts.append("""
                        SELECT \(Self.columns)
                        FROM (WITH RECURSIVE b(x) AS (SELECT ? UNION ALL SELECT x + ? FROM b WHERE x + ? < ?) SELECT x FROM b) AS b
                        JOIN recent_samples s ON s.bucket = b.x AND s.channel_id = ?
                        """)
                    values += [.integer(alignUp(segment.from, seekStep)), .integer(seekStep), .integer(seekStep), .integer(segment.to), .integer(channel)]
                case (true, nil):
                    parts.append("SELECT \(Self.columns) FROM recent_samples WHERE bucket >= ? AND bucket < ?")
                    values += [.integer(segment.from), .integer(segment.to)]
                case (false, let channel):
                    let filter = channel == nil ? "channel_id IN (SELECT id FROM channel_names)" : "channel_id = ?"
                    parts.append("SELECT \(Self.columns) FROM samples WHERE resolution = ? AND \(filter) AND bucket >= ? AND bucket < ?")
                    values += [.integer(segment.resolution)] + (channel.map { [SQLiteValue.integer($0)] } ?? [])
                        + [.integer(segment.from), .integer(segment.to)]
                }
            }
            return (parts.joined(separator: " UNION ALL "), values)
        }
    }

    func attempt<T>(_ body: () throws -> T) throws(StoreQueryError) -> T {
        do {
            return try body()
        } catch let error as StoreQueryError {
            throw error
        } catch {
            throw StoreQueryError("cannot read '\(connection.path)': \(error)")
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ text: String?) -> T? {
        text.flatMap { try? JSONDecoder().decode(type, from: Data($0.utf8)) }
    }
}

extension SQLiteRow {
    func unsigned(_ column: Int32) -> UInt64 { UInt64(max(0, integer(column) ?? 0)) }
    /// A latency stored in whole microseconds, in seconds.
    func seconds(_ column: Int32) -> Double? { real(column).map { $0 / 1e6 } }
}
