import Foundation

/// One frame of `lookout top`: alerts firing, consumers by state, channels by rate, drawn from
/// the JSON API's answers (`/api/v1/sources`, `/alerts`, `/consumers`, `/channels`). Pure: the
/// same answers, clock and style give the same text (what the golden test checks).
public struct TopView {
    /// Decoded API answers; each is a JSON array of objects with the CLI's field names.
    public var sources: [[String: Any]]
    /// Nil when the server keeps no history (its alerts answer 503).
    public var alerts: [[String: Any]]?
    public var consumers: [[String: Any]]
    public var channels: [[String: Any]]
    /// `/api/v1/notifications`: who sends the notifications (nil from a server without it).
    public var notifications: [String: Any]?

    /// Parses the answers' bodies; a body that is not a JSON array of objects is an error.
    public init(sources: Data, alerts: Data?, consumers: Data, channels: Data, notifications: Data? = nil) throws {
        func list(_ data: Data, _ name: String) throws -> [[String: Any]] {
            guard let objects = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
                throw TopError("the server's \(name) answer is not a JSON list (is this a Lookout?)")
            }
            return objects
        }
        self.sources = try list(sources, "sources")
        self.alerts = try alerts.map { try list($0, "alerts") }
        self.consumers = try list(consumers, "consumers")
        self.channels = try list(channels, "channels")
        self.notifications = notifications.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    /// Why a frame could not be drawn.
    public struct TopError: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// The consumer states, worst first: the order consumers are listed in.
    private static let stateOrder = ["down", "stalled", "lagging", "late", "up", "stopped"]

    /// The frame as text: fits `style.width` columns; `rows` bounds the lines (a terminal's
    /// height), nil for everything; `colour` adds ANSI colours for states.
    public func render(url: String, style: ReportStyle, rows: Int? = nil, colour: Bool = false) -> String {
        func paint(_ text: String, _ state: String) -> String {
            guard colour else { return text }
            let code = switch state {
            case "up", "true": "32"
            case "late", "lagging", "warning": "33"
            case "down", "stalled", "false", "critical", "firing": "31"
            default: "2"
            }
            return "\u{1B}[\(code)m\(text)\u{1B}[0m"
        }
        func text(_ object: [String: Any], _ key: String) -> String {
            switch object[key] {
            case let value as String: value
            case let value as NSNumber: "\(value)"
            default: "-"
            }
        }
        func number(_ object: [String: Any], _ key: String) -> Double? { (object[key] as? NSNumber)?.doubleValue }
        func ago(_ object: [String: Any], _ key: String) -> String {
            guard let iso = object[key] as? String, let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(iso) else { return "-" }
            return ReadableFormat.age(style.now - date.timeIntervalSince1970)
        }

        var lines: [String] = []
        let sourceList = sources.map { source in "\(text(source, "source")) " + paint((source["up"] as? Bool) == true ? "up" : "down", (source["up"] as? Bool) == true ? "up" : "down") }
        lines.append("lookout top — \(url) — \(ReadableFormat.time(style.now, style))")
        lines.append("sources: " + (sourceList.isEmpty ? "none" : sourceList.joined(separator: ", ")))
        if let notifications, notifications["group"] is String, let summary = notifications["summary"] as? String {
            // An HA group: which instance notifies.
            lines.append("notifications: " + summary)
        }

        let firing = (alerts ?? []).filter { text($0, "status") == "firing" }
        lines.append("")
        lines.append(alerts == nil ? "ALERTS: no history (the server runs without a database)" : "ALERTS FIRING: \(firing.count)")
        for alert in firing {
            let severity = ((alert["labels"] as? [String: Any])?["severity"] as? String) ?? "-"
            lines.append("  " + paint(severity, severity) + "  \(text(alert, "alert"))  \(text(alert, "subject"))  since \(ago(alert, "started_at"))")
        }

        let byState = Dictionary(grouping: consumers) { text($0, "state") }
        let summary = Self.stateOrder.compactMap { state in byState[state].map { "\($0.count) \(state)" } }.joined(separator: ", ")
        lines.append("")
        lines.append("CONSUMERS: \(consumers.count)" + (summary.isEmpty ? "" : " (\(summary))"))
        if !consumers.isEmpty {
            let sorted = consumers.sorted { a, b in
                let (x, y) = (Self.stateOrder.firstIndex(of: text(a, "state")) ?? 9, Self.stateOrder.firstIndex(of: text(b, "state")) ?? 9)
                return x != y ? x < y : text(a, "consumer") < text(b, "consumer")
            }
            var table = TextTable([.init("CONSUMER", shrinks: true), .init("GROUP", shrinks: true), .init("STATE"), .init("SINCE", alignRight: true),
                                   .init("BEAT", alignRight: true), .init("LAG", alignRight: true), .init("MISSED", alignRight: true)])
            for consumer in sorted {
                table.append([text(consumer, "consumer"), text(consumer, "group").isEmpty ? "-" : text(consumer, "group"), text(consumer, "state"),
                              ago(consumer, "state_since"), (consumer["heartbeats"] as? Bool) == true ? ago(consumer, "last_heartbeat")
                                  : consumer["kind"] as? String == "stream" ? "stream" : "no beats",
                              number(consumer, "lag").map { ReadableFormat.count(UInt64($0)) } ?? "-",
                              number(consumer, "missed").map { ReadableFormat.count(UInt64($0)) } ?? "-"])
            }
            lines += colouredStates(table.render(width: style.width), states: sorted.map { text($0, "state") }, paint: paint)
        }

        lines.append("")
        lines.append("CHANNELS: \(channels.count), busiest first")
        if !channels.isEmpty {
            var table = TextTable([.init("CHANNEL", shrinks: true), .init("MSG/S", alignRight: true), .init("BYTES/S", alignRight: true),
                                   .init("SUBS", alignRight: true), .init("LOST", alignRight: true), .init("P99", alignRight: true)])
            let sorted = channels.sorted { (number($0, "messages_per_second") ?? 0, text($1, "channel")) > (number($1, "messages_per_second") ?? 0, text($0, "channel")) }
            for channel in sorted {
                table.append([text(channel, "channel"), ReadableFormat.rate(number(channel, "messages_per_second") ?? 0),
                              ReadableFormat.bytes(UInt64(max(0, number(channel, "bytes_per_second") ?? 0))) + "/s",
                              text(channel, "subscribers"), ReadableFormat.count(UInt64(max(0, number(channel, "unrouted") ?? 0))),
                              ReadableFormat.latency(number(channel, "latency_p99_seconds"))])
            }
            lines += table.render(width: style.width).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
        if let rows, lines.count > rows {
            lines = Array(lines.prefix(max(1, rows - 1))) + ["… \(lines.count - rows + 1) more lines (a taller terminal shows them)"]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The table's lines, the STATE cell of each row coloured (the header is left as it is).
    private func colouredStates(_ rendered: String, states: [String], paint: (String, String) -> String) -> [String] {
        let lines = rendered.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        return lines.enumerated().map { index, line in
            guard index > 0, index - 1 < states.count, let range = line.range(of: " \(states[index - 1]) ") else { return line }
            return line.replacingCharacters(in: range, with: " " + paint(states[index - 1], states[index - 1]) + " ")
        }
    }
}
