import Foundation

/// Writes a configuration as the YAML file `lookout serve --config` reads, from the table of
/// settings: each setting under its section with its summary (and flag and environment
/// variable) as a comment, and a setting with no value commented out with its example.
/// `lookout config example` writes the defaults; `--print-config` a resolved configuration.
/// Secrets are always written as `********` (passwords, also inside Redis URLs and users).
public struct ConfigurationDocument {
    public let configuration: ServeConfiguration

    public init(_ configuration: ServeConfiguration) {
        self.configuration = configuration
    }

    /// The document, after `header` (comment lines, written as they are).
    public func render(header: [String] = []) -> String {
        var lines = header
        var open: [Substring] = []
        for setting in ServeConfiguration.settings {
            let parts = setting.key.split(separator: ".")
            let sections = parts.dropLast()
            var shared = 0
            while shared < min(open.count, sections.count) && open[shared] == sections[shared] { shared += 1 }
            open = Array(open[..<shared])
            for depth in shared..<sections.count {
                let path = sections[...depth].joined(separator: ".")
                if depth == 0 { lines.append("") }
                lines.append(indent(depth) + (hasValue(under: path) ? "" : "# ") + sections[depth] + ":")
                open.append(sections[depth])
            }
            write(setting, depth: sections.count, into: &lines)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func write(_ setting: Setting, depth: Int, into lines: inout [String]) {
        let value = setting.value(configuration)
        guard value != nil || setting.example != nil else { return }
        let margin = indent(depth)
        if depth == 0 { lines.append("") }
        let also = [setting.flag, setting.environment].compactMap { $0 }
        lines.append(margin + "# " + setting.summary + (also.isEmpty ? "" : " (" + also.joined(separator: ", ") + ")"))
        guard let value = setting.secret ? value.map({ _ in .text(ServeConfiguration.maskedSecret) }) : value else {
            let example = setting.example!.split(separator: "\n", omittingEmptySubsequences: false)
            if example.count == 1 && !example[0].hasPrefix("- ") {
                lines.append(margin + "# \(setting.name): \(example[0])")
            } else {
                lines.append(margin + "# \(setting.name):")
                lines += example.map { margin + "#   " + $0 }
            }
            return
        }
        if case .list(let items) = value, let first = items.first, case .mapping = first {
            lines.append(margin + "\(setting.name):")
            for case .mapping(let entries) in items {
                for (index, entry) in entries.enumerated() {
                    lines.append(margin + (index == 0 ? "  - " : "    ") + "\(entry.key): " + Self.inline(entry.value))
                }
            }
        } else {
            lines.append(margin + "\(setting.name): " + Self.inline(value))
        }
    }

    private func hasValue(under path: String) -> Bool {
        ServeConfiguration.settings.contains { $0.key.hasPrefix(path + ".") && $0.value(configuration) != nil }
    }

    private func indent(_ depth: Int) -> String { String(repeating: "  ", count: depth) }

    /// The configuration reference as a Markdown table (the README's, checked by a test):
    /// each key with its flag, environment variable, default and summary.
    public static func markdownReference() -> String {
        let defaults = ServeConfiguration()
        var lines = ["| key | flag | environment | default | what it does |", "|---|---|---|---|---|"]
        for setting in ServeConfiguration.settings {
            let value = setting.value(defaults).map(inline).map { "`\($0)`" } ?? "—"
            let fields = setting.fields.isEmpty ? "" : " Each item: " + setting.fields.map { "`\($0.name)`" }.joined(separator: ", ") + "."
            let cells = ["`\(setting.key)`", setting.flag.map { "`\($0)`" } ?? "", setting.environment.map { "`\($0)`" } ?? "", value,
                         setting.summary + fields]
            lines.append("| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A value as help text writes it: texts unquoted, nil for an empty list or text.
    static func plainText(_ value: SettingValue) -> String? {
        switch value {
        case .plain(let text): text
        case .text(let text): text.isEmpty ? nil : text
        case .list(let items): items.isEmpty ? nil : items.compactMap(plainText).joined(separator: ", ")
        case .mapping: nil
        }
    }

    /// A value on one line: plain as it is, texts double-quoted, lists and mappings in flow style.
    static func inline(_ value: SettingValue) -> String {
        switch value {
        case .plain(let text): text
        case .text(let text): quoted(text)
        case .list(let items): "[" + items.map(inline).joined(separator: ", ") + "]"
        case .mapping(let entries): "{" + entries.map { quoted($0.key) + ": " + inline($0.value) }.joined(separator: ", ") + "}"
        }
    }

    /// `text` as a YAML double-quoted scalar.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                result += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: Swift.max(0, width - count)) + self }
}
