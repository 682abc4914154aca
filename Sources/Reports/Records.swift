import Foundation
import LookoutCore
import Store

// The JSON and CSV shape of each listing. Field names and order are a documented contract
// (README, "Query the history"): add fields at the end, never rename or remove one.

struct ChannelRecord: ReportRecord {
    /// What a channel's traffic is; the store's listing adds what its contract found.
    static let trafficFields = ["channel", "messages", "messages_per_second", "bytes", "unrouted", "subscribers", "latency_p99_seconds",
                                "last_message_at"]
    static let fields = trafficFields + ["invalid", "sequence_gaps", "duplicates"]
    var values: [Any?]

    init(_ row: ChannelSummary, seconds: Double) {
        values = [row.channel, row.messages, ReadableFormat.rounded(Double(row.messages) / seconds), row.bytes, row.unrouted, row.subscribers,
                  row.latencyP99.map(ReadableFormat.latencySeconds), row.lastMessageAt.map(ReadableFormat.rfc3339), row.invalid, row.gaps, row.duplicates]
    }
}

/// One kept contract violation (`lookout violations`); the payload as text when it is UTF-8,
/// else in base64 (`payload_base64`).
struct ViolationRecordRow: ReportRecord {
    static let fields = ["at", "channel", "reason", "source", "id", "pointer", "message", "payload", "payload_base64"]
    var values: [Any?]

    init(_ row: StoredViolation) {
        let text = String(validating: row.payload, as: UTF8.self)
        values = [ReadableFormat.rfc3339(row.at), row.channel, row.reason, row.source, row.eventID, row.pointer, row.message, text,
                  text == nil ? Data(row.payload).base64EncodedString() : nil]
    }
}

/// A channel as the monitor sees it now (the HTTP API): the `channels` fields, over the last
/// second, then `bytes_per_second`.
struct LiveChannelRecord: ReportRecord {
    static let fields = ChannelRecord.trafficFields + ["bytes_per_second", "pattern_subscribers", "consumption_unknown"]
    var values: [Any?]

    init(_ channel: String, _ live: ChannelStatistics.Channel) {
        values = [channel, live.messages, ReadableFormat.rounded(live.messagesPerSecond), live.bytes, live.unrouted, live.subscribers,
                  live.latencyP99.map(ReadableFormat.latencySeconds), live.lastMessageAt.map(ReadableFormat.rfc3339), ReadableFormat.rounded(live.bytesPerSecond),
                  live.patternSubscribers, live.consumptionUnknown]
    }
}

/// One source: whether it is ready, why not, its reconnections and last probe round trip (the HTTP API).
struct SourceRecord: ReportRecord {
    static let fields = ["source", "up", "reason", "reconnects", "probe_roundtrip_seconds"]
    var values: [Any?]

    init(name: String, notReadyReason: String?, reconnects: UInt64, probeRoundTrip: Double?) {
        values = [name, notReadyReason == nil, notReadyReason, reconnects, probeRoundTrip.map(ReadableFormat.latencySeconds)]
    }
}

struct HistoryRecord: ReportRecord {
    static let fields = ["start", "step_seconds", "messages", "messages_per_second", "bytes", "unrouted", "subscribers",
                         "latency_p50_seconds", "latency_p90_seconds", "latency_p99_seconds", "latency_max_seconds"]
    var values: [Any?]

    init(_ point: HistoryPoint, step: Int64) {
        values = [ReadableFormat.rfc3339(Double(point.start)), step, point.messages, ReadableFormat.rounded(Double(point.messages) / Double(step)),
                  point.bytes, point.unrouted, point.subscribers, point.latencyP50.map(ReadableFormat.latencySeconds),
                  point.latencyP90.map(ReadableFormat.latencySeconds), point.latencyP99.map(ReadableFormat.latencySeconds),
                  point.latencyMax.map(ReadableFormat.latencySeconds)]
    }
}

struct ConsumerRecord: ReportRecord {
    static let fields = ["consumer", "group", "state", "state_since", "reason", "last_heartbeat", "interval_seconds", "processed",
                         "failed", "channels", "heartbeats", "kind", "lag", "missed", "restarts", "reconnects"]
    var values: [Any?]

    init(_ consumer: HeartbeatTracker.ConsumerSnapshot) {
        let detector = consumer.detector
        let progress = detector.progress
        values = [consumer.consumer, consumer.group, detector.state.rawValue, ReadableFormat.rfc3339(detector.stateSince), detector.reason,
                  detector.connectionOnly ? nil : ReadableFormat.rfc3339(detector.lastHeartbeatAt), detector.interval, detector.processed,
                  detector.failed, detector.channels, !detector.connectionOnly, detector.kind.rawValue, progress.lag, progress.missed, progress.restarts,
                  progress.reconnects]
    }
}

struct StreamGroupRecord: ReportRecord {
    static let fields = ["source", "stream", "group", "length", "consumers", "pending", "lag", "oldest_unread_age_seconds",
                         "oldest_pending_age_seconds", "poison", "lost_unread", "dead_consumers"]
    var values: [Any?]

    init(_ group: StreamGroupStatus) {
        values = [group.source, group.stream, group.group, group.length, group.consumers, group.pending, group.lag,
                  group.oldestUnreadAge.map(ReadableFormat.rounded), group.oldestPendingAge.map(ReadableFormat.rounded), group.poison,
                  group.lostUnread, group.deadConsumers]
    }
}

struct StreamGroupHistoryRecord: ReportRecord {
    static let fields = ["start", "step_seconds", "length", "consumers", "pending", "lag", "oldest_unread_age_seconds",
                         "oldest_pending_age_seconds", "poison", "lost_unread", "dead_consumers"]
    var values: [Any?]

    init(_ point: StreamGroupPoint, step: Int64) {
        values = [ReadableFormat.rfc3339(Double(point.start)), step, point.length, point.consumers, point.pending, point.lag,
                  point.oldestUnreadAge.map(ReadableFormat.rounded), point.oldestPendingAge.map(ReadableFormat.rounded), point.poison,
                  point.lostUnread, point.deadConsumers]
    }
}

struct TransitionRow: ReportRecord {
    static let fields = ["at", "consumer", "group", "from", "to", "reason", "kind", "missed"]
    var values: [Any?]

    init(_ transition: TransitionRecord) {
        values = [ReadableFormat.rfc3339(transition.at), transition.consumer, transition.group, transition.from.rawValue, transition.to.rawValue,
                  transition.reason, transition.kind.rawValue, transition.missed]
    }
}

struct AlertRecord: ReportRecord {
    static let fields = ["alert", "status", "subject", "started_at", "ended_at", "summary", "description", "labels", "deliveries"]
    var values: [Any?]

    init(_ stored: StoredAlert) {
        let alert = stored.alert
        let deliveries: [[String: Any]] = stored.deliveries.map { delivery in
            ["status": delivery.status.rawValue, "notifier": delivery.notifier, "outcome": delivery.outcome,
             "attempts": delivery.attempts, "at": ReadableFormat.rfc3339(delivery.at), "error": delivery.error ?? NSNull()]
        }
        values = [alert.name, alert.status.rawValue, Reports.subject(alert), ReadableFormat.rfc3339(alert.startsAt.timeIntervalSince1970),
                  alert.endsAt.map { ReadableFormat.rfc3339($0.timeIntervalSince1970) }, alert.annotations["summary"] ?? "",
                  alert.annotations["description"] ?? "", alert.labels, deliveries]
    }
}
