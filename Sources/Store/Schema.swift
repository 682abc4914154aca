import Foundation

/// The database's tables, as an ordered list of migrations. `schema_version` records each one
/// applied; opening a database applies the missing ones in order, each in its own transaction.
/// A migration, once released, never changes: a new need is a new migration.
///
/// Times are seconds since the epoch: whole seconds for bucket starts, fractional elsewhere.
package enum Schema {
    package static let migrations: [String] = [
        // 1: raw samples, consumers, transitions, alerts and deliveries, source gaps.
        """
        CREATE TABLE channel_samples (
            bucket INTEGER NOT NULL,
            channel TEXT NOT NULL,
            messages INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            unrouted INTEGER NOT NULL,
            subscribers INTEGER NOT NULL,
            latency_samples INTEGER NOT NULL,
            latency_p50 REAL, latency_p90 REAL, latency_p99 REAL, latency_max REAL,
            PRIMARY KEY (channel, bucket)
        ) WITHOUT ROWID;
        CREATE INDEX channel_samples_by_bucket ON channel_samples (bucket);
        CREATE TABLE consumers (
            consumer TEXT PRIMARY KEY,
            consumer_group TEXT NOT NULL,
            state TEXT NOT NULL,
            state_since REAL NOT NULL,
            reason TEXT NOT NULL,
            last_heartbeat REAL NOT NULL,
            interval REAL NOT NULL,
            processed INTEGER,
            failed INTEGER,
            channels TEXT NOT NULL,
            connection_only INTEGER NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE consumer_transitions (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            consumer TEXT NOT NULL,
            consumer_group TEXT NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        CREATE INDEX consumer_transitions_by_consumer ON consumer_transitions (consumer, at);
        CREATE INDEX consumer_transitions_by_time ON consumer_transitions (at);
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            name TEXT NOT NULL,
            labels TEXT NOT NULL,
            summary TEXT NOT NULL,
            description TEXT NOT NULL,
            starts_at REAL NOT NULL,
            ends_at REAL,
            UNIQUE (fingerprint, starts_at)
        );
        CREATE INDEX alerts_by_start ON alerts (starts_at);
        CREATE TABLE alert_deliveries (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
            status TEXT NOT NULL,
            notifier TEXT NOT NULL,
            outcome TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            at REAL NOT NULL,
            error TEXT
        );
        CREATE INDEX alert_deliveries_by_alert ON alert_deliveries (alert_id);
        CREATE TABLE source_gaps (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL NOT NULL
        );
        CREATE INDEX source_gaps_by_start ON source_gaps (started_at);
        """,
        // 2: one-minute roll-ups of the raw samples, and how far the roll-up has gone.
        """
        CREATE TABLE channel_minutes (
            bucket INTEGER NOT NULL,
            channel TEXT NOT NULL,
            messages INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            unrouted INTEGER NOT NULL,
            subscribers INTEGER NOT NULL,
            latency_samples INTEGER NOT NULL,
            latency_p50 REAL, latency_p90 REAL, latency_p99 REAL, latency_max REAL,
            PRIMARY KEY (channel, bucket)
        ) WITHOUT ROWID;
        CREATE INDEX channel_minutes_by_bucket ON channel_minutes (bucket);
        CREATE TABLE store_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        """,
        // 3: consumer progress (backlog, missed messages, restarts, reconnects) and what kind of
        // event a transition is (a change of state, a reconnect, a restart), with what it missed.
        """
        ALTER TABLE consumers ADD COLUMN received INTEGER;
        ALTER TABLE consumers ADD COLUMN pending INTEGER;
        ALTER TABLE consumers ADD COLUMN lag INTEGER;
        ALTER TABLE consumers ADD COLUMN processing_delay REAL;
        ALTER TABLE consumers ADD COLUMN missed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE consumers ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE consumers ADD COLUMN reconnects INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE consumer_transitions ADD COLUMN kind TEXT NOT NULL DEFAULT 'change';
        ALTER TABLE consumer_transitions ADD COLUMN missed INTEGER;
        """,
        // 4: compact tiered samples. Channel names get integer ids; latencies are whole
        // microseconds (two or three bytes each instead of eight). The tier written every second
        // is ordered by time (`recent_samples`, keyed by bucket then channel), so a flush appends
        // to a few pages instead of touching one page per channel; the rolled-up tiers are
        // ordered by channel (`samples`, keyed by resolution, channel, bucket) for long histories
        // of one channel. `tiers` records what each tier covers: its first bucket kept, how far
        // its roll-up has reached, and whether its rows are the directly written ones. What
        // versions 1–3 held moves over as two tiers: the one-minute roll-ups before the roll-up
        // watermark (60 s) and the raw samples from it (1 s, written directly), each moment once.
        """
        CREATE TABLE channel_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE recent_samples (
            bucket INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            messages INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            unrouted INTEGER NOT NULL,
            subscribers INTEGER NOT NULL,
            latency_samples INTEGER NOT NULL,
            latency_p50 INTEGER, latency_p90 INTEGER, latency_p99 INTEGER, latency_max INTEGER,
            PRIMARY KEY (bucket, channel_id)
        ) WITHOUT ROWID;
        CREATE TABLE samples (
            resolution INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            messages INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            unrouted INTEGER NOT NULL,
            subscribers INTEGER NOT NULL,
            latency_samples INTEGER NOT NULL,
            latency_p50 INTEGER, latency_p90 INTEGER, latency_p99 INTEGER, latency_max INTEGER,
            PRIMARY KEY (resolution, channel_id, bucket)
        ) WITHOUT ROWID;
        CREATE TABLE tiers (resolution INTEGER PRIMARY KEY, start INTEGER, rolled_up_until INTEGER, direct INTEGER NOT NULL);
        INSERT INTO channel_names (name) SELECT channel FROM channel_samples UNION SELECT channel FROM channel_minutes;
        INSERT INTO samples
            SELECT 60, n.id, m.bucket, m.messages, m.bytes, m.unrouted, m.subscribers, m.latency_samples,
                   CAST(ROUND(m.latency_p50 * 1e6) AS INTEGER), CAST(ROUND(m.latency_p90 * 1e6) AS INTEGER),
                   CAST(ROUND(m.latency_p99 * 1e6) AS INTEGER), CAST(ROUND(m.latency_max * 1e6) AS INTEGER)
            FROM channel_minutes m JOIN channel_names n ON n.name = m.channel
            WHERE m.bucket < COALESCE((SELECT value FROM store_state WHERE key = 'rolled_up_until'), -1);
        INSERT INTO recent_samples
            SELECT s.bucket, n.id, s.messages, s.bytes, s.unrouted, s.subscribers, s.latency_samples,
                   CAST(ROUND(s.latency_p50 * 1e6) AS INTEGER), CAST(ROUND(s.latency_p90 * 1e6) AS INTEGER),
                   CAST(ROUND(s.latency_p99 * 1e6) AS INTEGER), CAST(ROUND(s.latency_max * 1e6) AS INTEGER)
            FROM channel_samples s JOIN channel_names n ON n.name = s.channel
            WHERE s.bucket >= COALESCE((SELECT value FROM store_state WHERE key = 'rolled_up_until'), -1)
            ORDER BY s.bucket, n.id;
        INSERT INTO tiers (resolution, start, rolled_up_until, direct)
            SELECT 60, NULL, value, 0 FROM store_state WHERE key = 'rolled_up_until' AND EXISTS (SELECT 1 FROM samples WHERE resolution = 60);
        INSERT INTO tiers (resolution, start, rolled_up_until, direct)
            VALUES (1, (SELECT value FROM store_state WHERE key = 'rolled_up_until'), NULL, 1);
        DELETE FROM store_state WHERE key = 'rolled_up_until';
        DROP TABLE channel_samples;
        DROP TABLE channel_minutes;
        """,
        // 5: event integrity. A bounded sample of contract violations (at most a few per channel
        // and minute, the payload truncated), and per channel and minute the exact counts of
        // invalid, missing, duplicated and reordered events (a row only for a minute with any).
        """
        CREATE TABLE violations (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            channel TEXT NOT NULL,
            source TEXT,
            event_id TEXT,
            reason TEXT NOT NULL,
            pointer TEXT NOT NULL,
            message TEXT NOT NULL,
            payload BLOB NOT NULL
        );
        CREATE INDEX violations_by_time ON violations (at);
        CREATE TABLE integrity_minutes (
            id INTEGER PRIMARY KEY,
            minute INTEGER NOT NULL,
            channel TEXT NOT NULL,
            invalid INTEGER NOT NULL,
            gaps INTEGER NOT NULL,
            duplicates INTEGER NOT NULL,
            out_of_order INTEGER NOT NULL,
            UNIQUE (minute, channel)
        );
        """,
        // 6: Redis Streams consumer groups, as the streams watch polls them: per group and bucket
        // of each tier at least as coarse as the poll, the largest figures seen in the bucket and
        // the entries lost unread in it. Keyed by time first, so a flush appends and expiry
        // deletes a range. And how each consumer is known (heartbeat, connection, stream; NULL in
        // older rows: told by connection_only).
        """
        ALTER TABLE consumers ADD COLUMN kind TEXT;
        CREATE TABLE stream_groups (id INTEGER PRIMARY KEY, stream TEXT NOT NULL, group_name TEXT NOT NULL, UNIQUE (stream, group_name));
        CREATE TABLE stream_group_samples (
            resolution INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            group_id INTEGER NOT NULL,
            length INTEGER NOT NULL,
            consumers INTEGER NOT NULL,
            pending INTEGER NOT NULL,
            lag INTEGER,
            oldest_unread_age REAL,
            oldest_pending_age REAL,
            poison INTEGER NOT NULL,
            lost_unread INTEGER NOT NULL,
            dead_consumers INTEGER NOT NULL,
            PRIMARY KEY (resolution, bucket, group_id)
        ) WITHOUT ROWID;
        """,
        // 7: the payload shapes inferred on channels without a contract, one row per channel.
        """
        CREATE TABLE channel_shapes (channel TEXT PRIMARY KEY, shape TEXT NOT NULL, messages INTEGER NOT NULL, updated_at REAL NOT NULL);
        """,
    ]

    package static var currentVersion: Int { migrations.count }

    /// How several samples combine into one (roll-ups and history steps): counts add up,
    /// subscribers and the maximum latency take the maximum, p50 is the mean of the parts' p50
    /// weighted by their latency samples (rounded to the microsecond), and p90/p99 take the largest
    /// part's value — an upper bound, so a slow second is never averaged away. Columns in the
    /// order of the sample tables from `messages` on.
    package static let combinedColumns = """
        SUM(messages), SUM(bytes), SUM(unrouted), MAX(subscribers), SUM(latency_samples),
        CAST(ROUND(SUM(latency_p50 * latency_samples) * 1.0
                   / NULLIF(SUM(CASE WHEN latency_p50 IS NULL THEN 0 ELSE latency_samples END), 0)) AS INTEGER),
        MAX(latency_p90), MAX(latency_p99), MAX(latency_max)
        """

    /// Applies the migrations `connection` lacks, up to `version`; returns the version it found.
    @discardableResult
    package static func migrate(_ connection: SQLiteConnection, upTo version: Int = currentVersion) throws -> Int {
        try connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        let found = Int(try connection.integer("SELECT MAX(version) FROM schema_version") ?? 0)
        guard found <= migrations.count else {
            throw SQLiteError(code: 0, message: "the database has schema version \(found), newer than this Lookout knows (\(migrations.count))")
        }
        for next in found..<version {
            try connection.transaction {
                try connection.execute(migrations[next])
                try connection.run("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                                   [.integer(Int64(next + 1)), .real(Date().timeIntervalSince1970)])
            }
        }
        return found
    }
}
