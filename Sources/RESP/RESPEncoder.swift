import NIOCore

extension RESPValue {
    /// Appends the value to `buffer` as a peer speaking `version` expects it.
    public func encode(into buffer: inout ByteBuffer, version: RESPVersion) {
        switch self {
        case .simpleString(let s):
            buffer.writeInteger(UInt8(ascii: "+"))
            buffer.writeLine(s)
        case .error(let s):
            buffer.writeInteger(UInt8(ascii: "-"))
            buffer.writeLine(s)
        case .integer(let i):
            buffer.writeRESPHeader(UInt8(ascii: ":"), i)
        case .bulkString(let b):
            buffer.writeBulkString(b)
        case .null:
            if version == .resp3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("$-1\r\n") }
        case .nullArray:
            if version == .resp3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("*-1\r\n") }
        case .array(let elements):
            buffer.writeAggregate(UInt8(ascii: "*"), elements, version: version)
        case .set(let elements):
            buffer.writeAggregate(version == .resp3 ? UInt8(ascii: "~") : UInt8(ascii: "*"), elements, version: version)
        case .push(let elements):
            buffer.writeAggregate(version == .resp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"), elements, version: version)
        case .map(let entries):
            if version == .resp3 {
                buffer.writeRESPHeader(UInt8(ascii: "%"), Int64(entries.count))
            } else {
                buffer.writeRESPHeader(UInt8(ascii: "*"), Int64(entries.count * 2))
            }
            for entry in entries {
                entry.key.encode(into: &buffer, version: version)
                entry.value.encode(into: &buffer, version: version)
            }
        case .double(let d):
            let text = RESPValue.formatDouble(d)
            if version == .resp3 {
                buffer.writeInteger(UInt8(ascii: ","))
                buffer.writeString(text)
                buffer.writeCRLF()
            } else {
                buffer.writeBulkString(ByteBuffer(string: text))
            }
        case .boolean(let b):
            if version == .resp3 {
                buffer.writeStaticString(b ? "#t\r\n" : "#f\r\n")
            } else {
                buffer.writeStaticString(b ? ":1\r\n" : ":0\r\n")
            }
        case .bigNumber(let s):
            if version == .resp3 {
                buffer.writeInteger(UInt8(ascii: "("))
                buffer.writeLine(s)
            } else {
                buffer.writeBulkString(ByteBuffer(string: s))
            }
        case .verbatimString(let format, let body):
            if version == .resp3 {
                buffer.writeRESPHeader(UInt8(ascii: "="), Int64(body.readableBytes + 4))
                buffer.writeString(format)
                buffer.writeInteger(UInt8(ascii: ":"))
                buffer.writeImmutableBuffer(body)
                buffer.writeCRLF()
            } else {
                buffer.writeBulkString(body)
            }
        }
    }

    /// The whole value encoded in a new buffer.
    public func encoded(version: RESPVersion) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer, version: version)
        return buffer
    }

    static func formatDouble(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d == d.rounded(), abs(d) < 1e17 { return String(Int64(d)) }
        return "\(d)"
    }
}

extension ByteBuffer {
    /// Writes `text` and CRLF as one line: a CR or LF inside it (an error text from a blob
    /// error, say) becomes a space, as Redis does with error messages, so the line cannot
    /// break the framing.
    mutating func writeLine(_ text: String) {
        if text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            writeBytes(text.utf8.map { $0 == 0x0D || $0 == 0x0A ? 0x20 : $0 })
        } else {
            writeString(text)
        }
        writeCRLF()
    }

    /// Writes `\r\n`.
    @inlinable
    public mutating func writeCRLF() {
        writeInteger(UInt16(0x0D0A))
    }

    /// Writes a type byte, a decimal integer and `\r\n`: the header of every RESP aggregate and bulk.
    @inlinable
    public mutating func writeRESPHeader(_ type: UInt8, _ value: Int64) {
        writeInteger(type)
        writeDecimal(value)
        writeCRLF()
    }

    /// Writes `value` in decimal ASCII without allocating.
    @inlinable
    public mutating func writeDecimal(_ value: Int64) {
        if value >= 0 && value < 10 {
            writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { writeInteger(UInt8(ascii: "-")) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits, written back to front
        let count = withUnsafeMutableBytes(of: &digits) { raw -> Int in
            var index = raw.count
            repeat {
                index -= 1
                raw[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            return raw.count - index
        }
        withUnsafeBytes(of: &digits) { raw in
            _ = writeBytes(UnsafeRawBufferPointer(rebasing: raw[(raw.count - count)...]))
        }
    }

    /// Writes a RESP bulk string: `$<length>\r\n<bytes>\r\n`.
    @inlinable
    public mutating func writeBulkString(_ bytes: ByteBuffer) {
        writeRESPHeader(UInt8(ascii: "$"), Int64(bytes.readableBytes))
        writeImmutableBuffer(bytes)
        writeCRLF()
    }

    mutating func writeAggregate(_ type: UInt8, _ elements: [RESPValue], version: RESPVersion) {
        writeRESPHeader(type, Int64(elements.count))
        for element in elements {
            element.encode(into: &self, version: version)
        }
    }
}
