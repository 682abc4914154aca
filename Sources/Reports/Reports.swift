import Foundation
import LookoutCore
import Store

/// How a listing is printed.
public enum OutputFormat: String, CaseIterable, Sendable {
    /// Aligned columns for a terminal, times in the local time zone.
    case table
    /// A JSON array (or object for one consumer), keys in snake_case and sorted, times in RFC 3339 UTC,
    /// durations in seconds.
    case json
    /// RFC 4180 CSV with a header line; the same fields and units as JSON.
    case csv
}

/// What a table depends on besides the data: the clock, the time zone and the terminal.
public struct ReportStyle: Sendable {
    public var now: Double
    public var timeZone: TimeZone
    /// Draw the sparkline of `history` (on a terminal).
    public var sparkline: Bool
    public var width: Int

    public init(now: Double, timeZone: TimeZone = .current, sparkline: Bool = false, width: Int = 80) {
        self.now = now
        self.timeZone = timeZone
        self.sparkline = sparkline
        self.width = width
    }
}

/// Turns what the store answers into the text the CLI prints, in each ``OutputFormat``. Pure:
/// the same data and style give the same bytes (what the golden tests check).
public enum Reports {
    // MARK: channels

    public static func channels(_ rows: [ChannelSummary], since: Double, until: Double, format: OutputFormat, style: ReportStyle) -> String {
        let seconds = max(1, until - since)
        switch format {
        case .table:
            // The contract columns only when a contract found something in the range.
            let integrity = rows.contains { $0.invalid + $0.gaps + $0.duplicates > 0 }
            var columns: [TextTable.Column] = [.init("CHANNEL", shrinks: true), .init("MSGS", alignRight: true), .init("MSG/S", alignRight: true),
                                               .init("BYTES", alignRight: true), .init("UNROUTED", alignRight: true), .init("SUBS", alignRight: true),
                                               .init("P99", alignRight: true), .init("LAST MSG", alignRight: true)]
            if integrity { columns += [.init("INV", alignRight: true), .init("GAP", alignRight: true), .init("DUP", alignRight: true)] }
            var table = TextTable(columns)
            for row in rows {
                var cells = [row.channel, ReadableFormat.count(row.messages), ReadableFormat.rate(Double(row.messages) / seconds), ReadableFormat.bytes(row.bytes),
                             ReadableFormat.count(row.unrouted), "\(row.subscribers)", ReadableFormat.latency(row.latencyP99),
                             row.lastMessageAt.map { ReadableFormat.age(style.now - $0) } ?? "-"]
                if integrity { cells += [ReadableFormat.count(row.invalid), ReadableFormat.count(row.gaps), ReadableFormat.count(row.duplicates)] }
                table.append(cells)
            }
            return table.render(width: style.width)
        case .json, .csv:
            return encode(rows.map { ChannelRecord($0, seconds: seconds) }, format: format)
        }
    }

    /// Channels as the monitor sees them now, busiest first (JSON; the HTTP API).
    public static func liveChannels(_ channels: [String: ChannelStatistics.Channel]) -> String {
        let sorted = channels.sorted { ($1.value.messagesPerSecond, $0.key) < ($0.value.messagesPerSecond, $1.key) }
        return encode(sorted.map { LiveChannelRecord($0.key, $0.value) }, format: .json)
    }

    /// Every source with whether it is ready, why not, its reconnections and last probe round
    /// trip (JSON; the HTTP API).
    public static func sources(_ sources: [(name: String, notReadyReason: String?, reconnects: UInt64, probeRoundTrip: Double?)]) -> String {
        encode(sources.map { SourceRecord(name: $0.name, notReadyReason: $0.notReadyReason, reconnects: $0.reconnects,
                                          probeRoundTrip: $0.probeRoundTrip) }, format: .json)
    }

    /// Who sends Lookout's notifications: `{"group", "instance", "notifies", "holder",
    /// "fencing_token", "summary"}` (null where unknown; no group for an instance on its own).
    public static func notifications(_ status: NotificationStatus) -> String {
        json([
            "group": status.group ?? NSNull(), "instance": status.instance ?? NSNull(), "notifies": status.notifies,
            "holder": status.holder ?? NSNull(), "fencing_token": status.fencingToken.map { NSNumber(value: $0) } ?? NSNull(),
            "summary": status.summary,
        ] as [String: Any])
    }

    /// The contracts Lookout checks: `[{"channels", "origin", "format", "types", "any_message",
    /// "require_schema", "sequence", "duplicates_seconds", "fields"}]`, in the order they are
    /// tried (a channel's contract is the first whose glob matches).
    public static func contracts(_ contracts: ContractSet) -> String {
        json(contracts.contracts.map { contract -> [String: Any] in
            let fields = [("id", contract.fields.id), ("source", contract.fields.source), ("sequence", contract.fields.sequence),
                          ("type", contract.fields.type), ("version", contract.fields.version)]
            return [
                "channels": contract.channels, "origin": contract.origin, "format": contract.format.rawValue,
                "types": contract.schemas.keys.sorted(), "any_message": contract.anyMessageSchema != nil,
                "require_schema": contract.requireSchema, "sequence": contract.checksSequence,
                "duplicates_seconds": contract.duplicateWindow ?? NSNull(),
                "fields": Dictionary(uniqueKeysWithValues: fields.compactMap { name, member in member.map { (name, $0) } }),
            ]
        })
    }

    /// `{"error": message}` (the HTTP API's answer to a bad question).
    public static func error(_ message: String) -> String {
        json(["error": message])
    }

    // MARK: history

    public static func history(channel: String, _ points: [HistoryPoint], step: Int64, format: OutputFormat, style: ReportStyle) -> String {
        let rates = points.map { Double($0.messages) / Double(step) }
        switch format {
        case .table:
            var out = ""
            if style.sparkline, let first = points.first, let last = points.last {
                out += "\(channel)  \(ReadableFormat.time(Double(first.start), style)) – \(ReadableFormat.time(Double(last.start + step), style))"
                out += "  step \(ReadableFormat.duration(Double(step)))\n"
                out += "msg/s \(Sparkline.render(rates))  max \(ReadableFormat.rate(rates.max() ?? 0))\n\n"
            }
            var table = TextTable([.init("TIME"), .init("MSGS", alignRight: true), .init("MSG/S", alignRight: true),
                                   .init("BYTES", alignRight: true), .init("UNROUTED", alignRight: true), .init("SUBS", alignRight: true),
                                   .init("P50", alignRight: true), .init("P99", alignRight: true), .init("MAX", alignRight: true)])
            for (point, rate) in zip(points, rates) {
                table.append([ReadableFormat.time(Double(point.start), style), ReadableFormat.count(point.messages), ReadableFormat.rate(rate), ReadableFormat.bytes(point.bytes),
                              ReadableFormat.count(point.unrouted), point.subscribers.map { "\($0)" } ?? "-", ReadableFormat.latency(point.latencyP50),
                              ReadableFormat.latency(point.latencyP99), ReadableFormat.latency(point.latencyMax)])
            }
            return out + table.render(width: style.width)
        case .json, .csv:
            return encode(points.map { HistoryRecord($0, step: step) }, format: format)
        }
    }

    // MARK: consumers

    public static func consumers(_ consumers: [HeartbeatTracker.ConsumerSnapshot], format: OutputFormat, style: ReportStyle) -> String {
        switch format {
        case .table:
            var table = TextTable([.init("CONSUMER", shrinks: true), .init("GROUP", shrinks: true), .init("STATE"),
                                   .init("SINCE", alignRight: true), .init("LAST BEAT", alignRight: true),
                                   .init("PROCESSED", alignRight: true), .init("LAG", alignRight: true), .init("MISSED", alignRight: true), .init("RESTARTS", alignRight: true)])
            for consumer in consumers {
                let detector = consumer.detector
                let progress = detector.progress
                table.append([consumer.consumer, consumer.group.isEmpty ? "-" : consumer.group, detector.state.rawValue,
                              ReadableFormat.age(style.now - detector.stateSince),
                              detector.connectionOnly ? (detector.kind == .stream ? "stream" : "no beats")
                                  : ReadableFormat.age(style.now - detector.lastHeartbeatAt),
                              detector.processed.map(ReadableFormat.count) ?? "-", progress.lag.map(ReadableFormat.count) ?? "-", ReadableFormat.count(progress.missed), ReadableFormat.count(progress.restarts)])
            }
            return table.render(width: style.width)
        case .json, .csv:
            return encode(consumers.map(ConsumerRecord.init), format: format)
        }
    }

    /// Redis Streams consumer groups as the streams watch last saw them.
    public static func streams(_ groups: [StreamGroupStatus], format: OutputFormat, style: ReportStyle) -> String {
        switch format {
        case .table:
            var table = TextTable([.init("STREAM", shrinks: true), .init("GROUP", shrinks: true), .init("LAG", alignRight: true),
                                   .init("PENDING", alignRight: true), .init("UNREAD AGE", alignRight: true), .init("POISON", alignRight: true),
                                   .init("LOST", alignRight: true), .init("DEAD", alignRight: true)])
            for group in groups {
                func count(_ value: Int) -> String { ReadableFormat.count(UInt64(max(0, value))) }
                table.append([group.stream, group.group, group.lag.map(count) ?? "?", count(group.pending),
                              group.oldestUnreadAge.map(ReadableFormat.age) ?? "-", count(group.poison), count(group.lostUnread),
                              "\(group.deadConsumers.count)"])
            }
            return table.render(width: style.width)
        case .json, .csv:
            return encode(groups.map(StreamGroupRecord.init), format: format)
        }
    }

    /// One consumer group step by step, from the store (a step no poll was kept for prints "-").
    public static func streamGroupHistory(stream: String, group: String, _ points: [StreamGroupPoint], step: Int64, format: OutputFormat,
                                          style: ReportStyle) -> String {
        switch format {
        case .table:
            var out = ""
            if style.sparkline, let first = points.first, let last = points.last {
                let ages = points.map { $0.oldestUnreadAge ?? 0 }
                out += "\(stream) group \(group)  \(ReadableFormat.time(Double(first.start), style)) – \(ReadableFormat.time(Double(last.start + step), style))"
                out += "  step \(ReadableFormat.duration(Double(step)))\n"
                out += "unread age \(Sparkline.render(ages))  max \(ReadableFormat.duration(ages.max() ?? 0))\n\n"
            }
            var table = TextTable([.init("TIME"), .init("LENGTH", alignRight: true), .init("LAG", alignRight: true),
                                   .init("PENDING", alignRight: true), .init("UNREAD AGE", alignRight: true), .init("POISON", alignRight: true),
                                   .init("LOST", alignRight: true), .init("DEAD", alignRight: true)])
            func count(_ value: Int?) -> String { value.map { ReadableFormat.count(UInt64(max(0, $0))) } ?? "-" }
            for point in points {
                let polled = point.length != nil
                table.append([ReadableFormat.time(Double(point.start), style), count(point.length), polled ? point.lag.map { count($0) } ?? "?" : "-",
                              count(point.pending), point.oldestUnreadAge.map(ReadableFormat.age) ?? "-", count(point.poison),
                              polled || point.lostUnread > 0 ? count(point.lostUnread) : "-", count(point.deadConsumers)])
            }
            return out + table.render(width: style.width)
        case .json, .csv:
            return encode(points.map { StreamGroupHistoryRecord($0, step: step) }, format: format)
        }
    }

    /// The groups in `/api/v1/streams`'s answer; nil when it is not one.
    public static func streamGroups(json data: Data) -> [StreamGroupStatus]? {
        guard let objects = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return nil }
        var groups: [StreamGroupStatus] = []
        for object in objects {
            guard let source = object["source"] as? String, let stream = object["stream"] as? String, let group = object["group"] as? String,
                  let length = object["length"] as? Int, let consumers = object["consumers"] as? Int, let pending = object["pending"] as? Int,
                  let poison = object["poison"] as? Int, let lost = object["lost_unread"] as? Int,
                  let dead = object["dead_consumers"] as? [String] else { return nil }
            groups.append(StreamGroupStatus(source: source, stream: stream, group: group, length: length, consumers: consumers, pending: pending,
                                            lag: object["lag"] as? Int, oldestUnreadAge: object["oldest_unread_age_seconds"] as? Double,
                                            oldestPendingAge: object["oldest_pending_age_seconds"] as? Double, poison: poison, lostUnread: lost,
                                            deadConsumers: dead))
        }
        return groups
    }

    /// One consumer in depth: its record, then its state changes.
    public static func consumer(_ consumer: HeartbeatTracker.ConsumerSnapshot, transitions: [TransitionRecord], format: OutputFormat,
                                style: ReportStyle) -> String {
        let records = transitions.map(TransitionRow.init)
        switch format {
        case .table:
            let detector = consumer.detector
            var out = ""
            let facts: [(String, String)] = [
                ("consumer", consumer.consumer), ("group", consumer.group.isEmpty ? "-" : consumer.group),
                ("state", "\(detector.state.rawValue) since \(ReadableFormat.time(detector.stateSince, style)) (\(ReadableFormat.age(style.now - detector.stateSince)))"),
                ("reason", detector.reason.isEmpty ? "-" : detector.reason),
                ("last beat", detector.connectionOnly
                    ? (detector.kind == .stream ? "none (a Redis Streams consumer, watched by XINFO CONSUMERS)" : "none (watched by its subscribed connection)")
                    : "\(ReadableFormat.time(detector.lastHeartbeatAt, style)) (\(ReadableFormat.age(style.now - detector.lastHeartbeatAt))), every \(ReadableFormat.duration(detector.interval))"),
                ("processed", detector.processed.map { "\($0)" } ?? "-"), ("failed", detector.failed.map { "\($0)" } ?? "-"),
                ("channels", detector.channels.isEmpty ? "-" : detector.channels.joined(separator: ", ")),
                ("lag", detector.progress.lag.map { "\($0) messages" } ?? "-"),
                ("missed", "\(detector.progress.missed) messages while away (\(detector.progress.reconnects) reconnects)"),
                ("restarts", "\(detector.progress.restarts)"),
            ]
            for (key, value) in facts { out += key.padding(toLength: 11, withPad: " ", startingAt: 0) + value + "\n" }
            out += "\n"
            if transitions.isEmpty { return out + "no state changes in the range\n" }
            var table = TextTable([.init("TIME"), .init("FROM"), .init("TO"), .init("MISSED", alignRight: true), .init("REASON", shrinks: true)])
            for transition in transitions {
                let to = transition.kind == .change ? transition.to.rawValue : transition.kind.rawValue
                table.append([ReadableFormat.time(transition.at, style), transition.from.rawValue, to,
                              transition.missed.map(ReadableFormat.count) ?? "-", transition.reason])
            }
            return out + table.render(width: style.width)
        case .json:
            return json(ConsumerRecord(consumer).object.merging(["transitions": records.map(\.object)]) { first, _ in first })
        case .csv:
            return encode(records, format: .csv)
        }
    }

    // MARK: violations

    /// Kept contract violations, newest first.
    public static func violations(_ rows: [StoredViolation], format: OutputFormat, style: ReportStyle) -> String {
        switch format {
        case .table:
            var table = TextTable([.init("TIME"), .init("CHANNEL", shrinks: true), .init("REASON"), .init("EVENT", shrinks: true),
                                   .init("WHERE", shrinks: true), .init("WHY", shrinks: true)])
            for row in rows {
                let event = [row.eventID, row.source.map { "from \($0)" }].compactMap { $0 }.joined(separator: " ")
                table.append([ReadableFormat.time(row.at, style), row.channel, row.reason, event.isEmpty ? "-" : event,
                              row.pointer.isEmpty ? "/" : row.pointer, row.message])
            }
            return table.render(width: style.width)
        case .json, .csv:
            return encode(rows.map(ViolationRecordRow.init), format: format)
        }
    }

    // MARK: alerts

    public static func alerts(_ alerts: [StoredAlert], format: OutputFormat, style: ReportStyle) -> String {
        switch format {
        case .table:
            var table = TextTable([.init("STARTED"), .init("LASTED", alignRight: true), .init("ALERT"), .init("ON", shrinks: true),
                                   .init("SENT")])
            for stored in alerts {
                let alert = stored.alert
                let lasted = alert.endsAt.map { ReadableFormat.duration($0.timeIntervalSince(alert.startsAt)) } ?? "firing"
                table.append([ReadableFormat.time(alert.startsAt.timeIntervalSince1970, style), lasted, alert.name, subject(alert),
                              deliverySummary(stored.deliveries)])
            }
            return table.render(width: style.width)
        case .json, .csv:
            return encode(alerts.map(AlertRecord.init), format: format)
        }
    }

    /// What an alert is about: its consumer, channel, group or source.
    static func subject(_ alert: Alert) -> String {
        for key in ["consumer", "channel", "group", "source"] {
            if let value = alert.labels[key] { return value }
        }
        return "-"
    }

    /// How many deliveries succeeded out of how many: `2/2 ok`, `0/1 ok`.
    static func deliverySummary(_ deliveries: [StoredAlert.Delivery]) -> String {
        guard !deliveries.isEmpty else { return "-" }
        return "\(deliveries.filter { $0.outcome == "success" }.count)/\(deliveries.count) ok"
    }

    // MARK: encoding

    /// Records as a JSON array or as CSV.
    static func encode(_ records: [some ReportRecord], format: OutputFormat) -> String {
        guard format == .csv else { return json(records.map(\.object)) }
        let fields = type(of: records).Element.fields
        return CSV.render(header: fields, rows: records.map { record in record.values.map(csvText) })
    }

    /// Pretty-printed JSON with sorted keys and a final newline.
    static func json(_ value: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// A CSV field: empty for null, `k=v;k=v` for labels, `a;b` for lists of names, compact JSON
    /// for lists of objects (deliveries).
    static func csvText(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return ""
        case let text as String: return text
        case let labels as [String: String]: return labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
        case let list as [String]: return list.joined(separator: ";")
        case let list as [[String: Any]]:
            let data = (try? JSONSerialization.data(withJSONObject: list, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        case let number as Double: return "\(number)"
        case let some?: return "\(some)"
        }
    }
}

/// One line of a JSON or CSV listing: its field names (the documented, stable order) and values.
protocol ReportRecord {
    static var fields: [String] { get }
    /// Values in the order of `fields`; nil is JSON null and an empty CSV field.
    var values: [Any?] { get }
}

extension ReportRecord {
    var object: [String: Any] {
        Dictionary(uniqueKeysWithValues: zip(Self.fields, values.map { $0 ?? NSNull() }))
    }
}
