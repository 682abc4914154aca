import Foundation

/// A plain-text table: a header row and aligned columns, numbers to the right. Columns marked
/// `shrinks` are cut (with "…") so the table fits `width` characters when it can.
public struct TextTable: Sendable {
    /// One column's heading and how it behaves.
    public struct Column: Sendable {
        public var title: String
        public var alignRight: Bool
        public var shrinks: Bool

        public init(_ title: String, alignRight: Bool = false, shrinks: Bool = false) {
            self.title = title
            self.alignRight = alignRight
            self.shrinks = shrinks
        }
    }

    public var columns: [Column]
    public var rows: [[String]] = []

    public init(_ columns: [Column]) {
        self.columns = columns
    }

    public mutating func append(_ row: [String]) {
        rows.append(row)
    }

    /// The table as lines joined by newlines, with a trailing newline.
    public func render(width: Int = 80) -> String {
        var widths = columns.indices.map { index in
            rows.reduce(columns[index].title.count) { max($0, $1[index].count) }
        }
        let gap = 2
        var overflow = widths.reduce(0, +) + gap * (columns.count - 1) - width
        // Shrink the widest shrinkable column first, never below its title or 8 characters.
        while overflow > 0 {
            let candidates = columns.indices.filter { columns[$0].shrinks && widths[$0] > max(8, columns[$0].title.count) }
            guard let widest = candidates.max(by: { widths[$0] < widths[$1] }) else { break }
            widths[widest] -= 1
            overflow -= 1
        }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (index, cell) in cells.enumerated() {
                let text = cell.count > widths[index] ? String(cell.prefix(widths[index] - 1)) + "…" : cell
                let padding = String(repeating: " ", count: widths[index] - text.count)
                let last = index == cells.count - 1
                out += columns[index].alignRight ? padding + text : text + (last ? "" : padding)
                if !last { out += String(repeating: " ", count: gap) }
            }
            return out
        }
        return ([line(columns.map(\.title))] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}

/// Comma-separated values as RFC 4180 has them: a header line, fields quoted when they hold a
/// comma, a quote or a line break, lines ending in CRLF.
public enum CSV {
    public static func render(header: [String], rows: [[String]]) -> String {
        ([header] + rows).map { $0.map(field).joined(separator: ",") + "\r\n" }.joined()
    }

    static func field(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// A row of block characters for a series of values, scaled from zero to the largest.
public enum Sparkline {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    public static func render(_ values: [Double]) -> String {
        let top = values.max() ?? 0
        return String(values.map { value -> Character in
            guard top > 0, value > 0 else { return " " }
            return blocks[min(blocks.count - 1, Int((value / top * Double(blocks.count - 1)).rounded()))]
        })
    }
}
