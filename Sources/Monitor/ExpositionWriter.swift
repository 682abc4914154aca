/// Prometheus text exposition built as bytes: samples are appended without a `String` per line,
/// which is what keeps `/metrics` quick with tens of thousands of series.
struct ExpositionWriter {
    private(set) var bytes: [UInt8]

    init(appendingTo bytes: [UInt8], reserving capacity: Int) {
        self.bytes = bytes
        self.bytes.reserveCapacity(bytes.count + capacity)
    }

    /// `# HELP` and `# TYPE` lines of a family.
    mutating func header(_ name: String, type: String, help: String) {
        bytes.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n".utf8)
    }

    /// `name{labels} ` with the value still to write; `labels` already escaped and joined.
    mutating func begin(_ name: [UInt8], _ labels: [UInt8], _ extra: [UInt8] = []) {
        bytes.append(contentsOf: name)
        bytes.append(UInt8(ascii: "{"))
        bytes.append(contentsOf: labels)
        bytes.append(contentsOf: extra)
        bytes.append(contentsOf: "} ".utf8)
    }

    mutating func end(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        end(value.magnitude)
    }

    mutating func end(_ value: UInt64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            bytes.append(contentsOf: buffer[(20 - count)...])
        }
        bytes.append(UInt8(ascii: "\n"))
    }

    mutating func end(_ value: Double) {
        bytes.append(contentsOf: "\(value)\n".utf8)
    }

    /// A label value as the text format writes it: backslash, double quote and newline escaped.
    static func escaped(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
