import Foundation
import LookoutTestSupport

/// The PromQL in `dashboards/*.json` and `alerts.yml`, and how to make it concrete for a test.
enum Dashboards {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let directory = root.appendingPathComponent("dashboards")
    static let rulesFile = root.appendingPathComponent("alerts.yml").path

    /// One query of one panel.
    struct Target {
        var dashboard: String
        var panel: String
        var refID: String
        var expr: String
    }

    /// Every dashboard file, parsed.
    /// A configuration file with event contracts, so that every integrity series exists: `orders`
    /// (plain JSON, no schema: its free-text messages are violations) and `audit` (plain JSON,
    /// type `kind`, a schema for `login`). Publish `{"kind":"login"}` on audit for valid events.
    static func contractsConfiguration() throws -> String {
        let directory = NSTemporaryDirectory() + "lookout-dashboard-contracts-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try #"{"type": "object", "required": ["kind"]}"#.write(toFile: directory + "/login.json", atomically: true, encoding: .utf8)
        try """
            contracts:
              - channels: orders
                format: json
              - channels: audit
                format: json
                fields: {type: kind, id: id, source: from, sequence: seq}
                schemas: {login: login.json}
                sequence: true
                duplicates: 1m
            """.write(toFile: directory + "/lookout.yaml", atomically: true, encoding: .utf8)
        return directory + "/lookout.yaml"
    }

    static func all() throws -> [(name: String, json: [String: Any])] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        return try names.map { name in
            let data = try Data(contentsOf: directory.appendingPathComponent(name))
            guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TestFailure("\(name) is not a JSON object")
            }
            return (name, json)
        }
    }

    /// The panels of a dashboard that show data (rows excluded), nested rows included.
    static func panels(_ dashboard: [String: Any]) -> [[String: Any]] {
        let top = dashboard["panels"] as? [[String: Any]] ?? []
        return top.flatMap { panel -> [[String: Any]] in
            panel["type"] as? String == "row" ? (panel["panels"] as? [[String: Any]] ?? []) : [panel]
        }
    }

    static func targets() throws -> [Target] {
        try all().flatMap { name, json in
            panels(json).flatMap { panel in
                (panel["targets"] as? [[String: Any]] ?? []).map { target in
                    Target(dashboard: name, panel: panel["title"] as? String ?? "?", refID: target["refId"] as? String ?? "?",
                           expr: target["expr"] as? String ?? "")
                }
            }
        }
    }

    /// The `expr:` of every rule in alerts.yml.
    static func ruleExpressions() throws -> [String] {
        try String(contentsOfFile: rulesFile, encoding: .utf8).split(separator: "\n").compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("expr: ") ? String(trimmed.dropFirst("expr: ".count)) : nil
        }
    }

    /// Grafana's variables replaced by concrete values, as Grafana would before querying.
    static func concrete(_ expr: String, rateInterval: String = "5s", consumer: String = ".*", group: String = ".*") -> String {
        expr.replacingOccurrences(of: "$__rate_interval", with: rateInterval)
            .replacingOccurrences(of: "$job", with: ".*")
            .replacingOccurrences(of: "$instance", with: ".*")
            .replacingOccurrences(of: "$consumer", with: consumer)
            .replacingOccurrences(of: "$group", with: group)
    }

    /// Metric names an expression selects: what is left once strings, label matchers `{…}`,
    /// ranges `[…]` and `by (…)` clauses are removed, minus function names and keywords.
    static func metricNames(in expr: String) -> Set<String> {
        var text = expr
        for pattern in [#""[^"]*""#, #"\{[^}]*\}"#, #"\[[^\]]*\]"#, #"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"#] {
            text = text.replacingOccurrences(of: pattern, with: " ", options: .regularExpression)
        }
        let regex = try! NSRegularExpression(pattern: #"[A-Za-z_:][A-Za-z0-9_:]*"#)
        var names: Set<String> = []
        for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            let range = Range(match.range, in: text)!
            let token = String(text[range])
            let next = text[range.upperBound...].drop { $0 == " " }.first
            if next == "(" || promQLWords.contains(token) { continue }
            if let previous = text[..<range.lowerBound].last, previous.isNumber || previous == "." { continue }
            names.insert(token)
        }
        return names
    }

    private static let promQLWords: Set<String> = ["and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN", "by", "without",
                                                   "on", "ignoring", "group_left", "group_right"]
}
