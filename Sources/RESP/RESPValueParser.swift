import NIOCore

/// Parses RESP2 and RESP3 values (replies and pushes) from a receive buffer, with a nesting cap.
///
/// Used on the client side: by tests, the benchmark client and anything that reads a server's
/// replies. Returns nil and consumes nothing while a value is incomplete.
public struct RESPValueParser: Sendable {
    /// Deepest nesting of aggregates accepted.
    public var maxDepth: Int
    /// Largest bulk string or aggregate count accepted.
    public var maxLength: Int

    public init(maxDepth: Int = 64, maxLength: Int = 512 * 1024 * 1024) {
        self.maxDepth = maxDepth
        self.maxLength = maxLength
    }

    /// Parses one value, consuming its bytes, or returns nil when `buffer` holds less than a value.
    public func next(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPValue? {
        var cursor = buffer.readerIndex
        guard let value = try parse(buffer, at: &cursor, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: cursor)
        return value
    }

    private func line(_ buffer: ByteBuffer, at cursor: inout Int) throws(RESPProtocolError) -> String? {
        let view = buffer.readableBytesView
        let start = cursor - buffer.readerIndex + view.startIndex
        guard start <= view.endIndex, let cr = view[start...].firstIndex(of: UInt8(ascii: "\r")) else { return nil }
        guard cr + 1 < view.endIndex else { return nil }
        guard view[cr + 1] == UInt8(ascii: "\n") else { throw .invalidValue("expected LF after CR") }
        let text = String(decoding: view[start..<cr], as: UTF8.self)
        cursor += cr + 2 - start
        return text
    }

    private func count(_ text: String) throws(RESPProtocolError) -> Int {
        guard let n = Int(text), n >= -1, n <= maxLength else { throw .invalidValue("invalid length '\(text)'") }
        return n
    }

    private func parse(_ buffer: ByteBuffer, at cursor: inout Int, depth: Int) throws(RESPProtocolError) -> RESPValue? {
        guard depth <= maxDepth else { throw .tooDeep }
        guard let type = buffer.getInteger(at: cursor, as: UInt8.self) else { return nil }
        var position = cursor + 1
        guard let text = try line(buffer, at: &position) else { return nil }
        let value: RESPValue
        switch type {
        case UInt8(ascii: "+"): value = .simpleString(text)
        case UInt8(ascii: "-"): value = .error(text)
        case UInt8(ascii: ":"):
            guard let n = Int64(text) else { throw .invalidValue("invalid integer '\(text)'") }
            value = .integer(n)
        case UInt8(ascii: ","):
            guard let d = Double(text) else { throw .invalidValue("invalid double '\(text)'") }
            value = .double(d)
        case UInt8(ascii: "("): value = .bigNumber(text)
        case UInt8(ascii: "#"):
            guard text == "t" || text == "f" else { throw .invalidValue("invalid boolean '\(text)'") }
            value = .boolean(text == "t")
        case UInt8(ascii: "_"): value = .null
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            let length = try count(text)
            if length == -1 {
                value = .null
                break
            }
            guard buffer.writerIndex - position >= length + 2 else { return nil }
            var body = buffer.getSlice(at: position, length: length)!
            guard buffer.getInteger(at: position + length, as: UInt16.self) == 0x0D0A else {
                throw .invalidValue("expected CRLF after \(length) bytes of data")
            }
            position += length + 2
            if type == UInt8(ascii: "=") {
                // `fmt:data`, the format three printable ASCII bytes (Redis sends txt or mkd).
                guard length >= 4, body.getInteger(at: body.readerIndex + 3, as: UInt8.self) == UInt8(ascii: ":"),
                      body.readableBytesView.prefix(3).allSatisfy({ (0x21...0x7E).contains($0) }) else {
                    throw .invalidValue("verbatim string without a fmt: prefix")
                }
                let format = body.readString(length: 3)!
                body.moveReaderIndex(forwardBy: 1)
                value = .verbatimString(format: format, body)
            } else if type == UInt8(ascii: "!") {
                value = .error(String(buffer: body))
            } else {
                value = .bulkString(body)
            }
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"):
            let n = try count(text)
            if n == -1 {
                value = .nullArray
                break
            }
            let elementCount = type == UInt8(ascii: "%") ? n * 2 : n
            var elements: [RESPValue] = []
            elements.reserveCapacity(min(elementCount, 1024))
            for _ in 0..<elementCount {
                guard let element = try parse(buffer, at: &position, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            switch type {
            case UInt8(ascii: "*"): value = .array(elements)
            case UInt8(ascii: "~"): value = .set(elements)
            case UInt8(ascii: ">"): value = .push(elements)
            default:
                value = .map(stride(from: 0, to: elements.count, by: 2).map { RESPMapEntry(elements[$0], elements[$0 + 1]) })
            }
        default:
            throw .invalidValue("unknown type byte \(type)")
        }
        cursor = position
        return value
    }
}
