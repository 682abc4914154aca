import NIOCore

/// Prometheus text exposition built as bytes straight into the buffer `/metrics` sends: samples
/// are copied raw into regions reserved a family at a time, without a `String` per line, a
/// capacity check per piece or a copy at the end; that is what keeps `/metrics` quick with
/// hundreds of thousands of samples.
struct ExpositionWriter {
    private(set) var buffer: ByteBuffer

    /// Takes `buffer` over (left empty until ``buffer`` is put back), so that appending never
    /// copies what it holds.
    init(taking buffer: inout ByteBuffer) {
        self.buffer = ByteBuffer()
        swap(&self.buffer, &buffer)
    }

    /// `# HELP` and `# TYPE` lines of a family.
    mutating func header(_ name: String, type: String, help: String) {
        buffer.writeString("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n")
    }

    /// Bytes that `rows` samples of `name` take at most: each row once per entry of `extras`
    /// (a label appended after the row's own, such as a bucket's `le`), with its labels
    /// (`labelBytes` for all rows together).
    static func maximumLength(_ name: [UInt8], rows: Int, labelBytes: Int, extras: [[UInt8]] = [[]]) -> Int {
        extras.reduce(0) { $0 + rows * (name.count + $1.count + 3 + Samples.longestValue) + labelBytes }
    }

    /// Runs `body` on a region of `maximum` bytes reserved at once (see ``maximumLength(_:rows:labelBytes:extras:)``).
    mutating func samples(maximum: Int, _ body: (inout Samples) -> Void) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: maximum) { region in
            var samples = Samples(region: region)
            body(&samples)
            return samples.count
        }
    }

    /// Samples written into a reserved region.
    struct Samples: ~Copyable {
        /// The longest value and line end: `-9223372036854775808`, or a `Double`'s description.
        static let longestValue = 32
        private let region: UnsafeMutableRawBufferPointer
        private(set) var count = 0

        init(region: UnsafeMutableRawBufferPointer) {
            self.region = region
        }

        @inline(__always)
        private mutating func copy(_ bytes: UnsafeRawBufferPointer) {
            precondition(count + bytes.count <= region.count, "exposition region too small")
            guard let source = bytes.baseAddress else { return }
            region.baseAddress!.advanced(by: count).copyMemory(from: source, byteCount: bytes.count)
            count += bytes.count
        }

        @inline(__always)
        private mutating func byte(_ value: UInt8) {
            precondition(count < region.count, "exposition region too small")
            region[count] = value
            count += 1
        }

        /// `name{labels} ` with the value still to write; `labels` already escaped and joined.
        @inline(__always)
        mutating func begin(_ name: [UInt8], _ labels: [UInt8], _ extra: [UInt8] = []) {
            name.withUnsafeBytes { copy($0) }
            byte(UInt8(ascii: "{"))
            labels.withUnsafeBytes { copy($0) }
            extra.withUnsafeBytes { copy($0) }
            byte(UInt8(ascii: "}"))
            byte(UInt8(ascii: " "))
        }

        mutating func end(_ value: Int64) {
            if value < 0 { byte(UInt8(ascii: "-")) }
            end(value.magnitude)
        }

        /// The decimal digits of `value` and the line's end.
        mutating func end(_ value: UInt64) {
            var digits = 1
            var rest = value / 10
            while rest > 0 {
                digits += 1
                rest /= 10
            }
            precondition(count + digits + 1 <= region.count, "exposition region too small")
            rest = value
            for index in stride(from: count + digits - 1, through: count, by: -1) {
                region[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
            count += digits
            byte(UInt8(ascii: "\n"))
        }

        mutating func end(_ value: Double) {
            var text = value.description
            text.withUTF8 { copy(UnsafeRawBufferPointer($0)) }
            byte(UInt8(ascii: "\n"))
        }
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
