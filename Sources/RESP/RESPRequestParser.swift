import NIOCore

/// One command as a client sent it: the command name followed by its arguments, binary-safe.
///
/// The arguments are slices of the receive buffer; nothing is copied.
public struct RESPRequest: Sendable, Hashable {
    public var arguments: [ByteBuffer]

    public init(arguments: [ByteBuffer]) {
        self.arguments = arguments
    }

    /// Builds a request from strings, for tests and clients.
    public init(_ words: String...) {
        self.arguments = words.map { ByteBuffer(string: $0) }
    }

    /// Encodes the request as a RESP multibulk, as a client sends it.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeRESPHeader(UInt8(ascii: "*"), Int64(arguments.count))
        for argument in arguments { buffer.writeBulkString(argument) }
    }
}

/// Incremental, bounded parser for client requests: RESP multibulk (`*2\r\n$4\r\nECHO\r\n…`) and
/// inline commands (`PING\r\n`), as Redis accepts them.
///
/// Feed it the bytes received so far; it returns a request once one is complete and leaves the
/// reader index untouched while one is incomplete. Progress inside an incomplete multibulk is kept
/// as offsets from the request's start, so a large request arriving in many reads is scanned once.
/// It never allocates for what a client merely announces: lengths are checked against the limits
/// before anything is reserved.
public struct RESPRequestParser: Sendable {
    /// Limits on what one request may announce.
    public struct Configuration: Sendable, Hashable {
        /// Largest bulk string accepted (Redis's `proto-max-bulk-len`, default 512 MiB).
        public var maxBulkLength: Int
        /// Largest element count of a multibulk request (default 1,048,576).
        public var maxArrayLength: Int
        /// Longest inline command, and longest `*`/`$` count line (Redis's 64 KiB).
        public var maxInlineLength: Int

        public init(maxBulkLength: Int = 512 * 1024 * 1024, maxArrayLength: Int = 1024 * 1024, maxInlineLength: Int = 64 * 1024) {
            self.maxBulkLength = maxBulkLength
            self.maxArrayLength = maxArrayLength
            self.maxInlineLength = maxInlineLength
        }
    }

    private struct MultibulkProgress: Sendable {
        var remaining: Int
        /// Offset, from the request's first byte, of the next unparsed element.
        var offset: Int
        /// Offset and length of each complete argument, relative to the request's first byte.
        var ranges: [(offset: Int, length: Int)]
    }

    public var configuration: Configuration
    private var progress: MultibulkProgress?
    /// The element ranges of the request being read, kept between requests for their capacity.
    private var scratchRanges: [(offset: Int, length: Int)] = []

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Parses the next request from `buffer`.
    ///
    /// - Returns: the request, with its bytes consumed; `nil` when more bytes are needed, or when
    ///   the bytes were an empty request (`*0`, `*-1`, a blank inline line), which is consumed.
    ///   Call again while it returns requests or consumes bytes.
    /// - Throws: ``RESPProtocolError`` for malformed or oversized input; the connection should
    ///   send ``RESPProtocolError/replyLine`` and close.
    public mutating func next(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPRequest? {
        var arguments: [ByteBuffer] = []
        return try next(&buffer, into: &arguments) ? RESPRequest(arguments: arguments) : nil
    }

    /// The same, writing the request's arguments into `arguments` (emptied first, capacity kept):
    /// a connection that reuses one array parses without allocating. Returns whether a request
    /// was read.
    public mutating func next(_ buffer: inout ByteBuffer, into arguments: inout [ByteBuffer]) throws(RESPProtocolError) -> Bool {
        while buffer.readableBytes > 0 {
            let before = buffer.readerIndex
            if progress == nil && buffer.readableBytesView.first != UInt8(ascii: "*") {
                if let request = try parseInline(&buffer) {
                    arguments = request.arguments
                    return true
                }
            } else {
                if try parseMultibulk(&buffer, into: &arguments) { return true }
            }
            if buffer.readerIndex == before { return false }  // incomplete
        }
        return false
    }

    // MARK: multibulk

    private mutating func parseMultibulk(_ buffer: inout ByteBuffer, into arguments: inout [ByteBuffer]) throws(RESPProtocolError) -> Bool {
        if progress == nil, parseWhole(&buffer, into: &arguments) { return true }
        let view = buffer.readableBytesView
        let start = view.startIndex
        if progress == nil {
            guard let (count, lineEnd) = try readCountLine(view, at: start + 1, tooBig: .tooBigMultibulkCountLine) else {
                return false
            }
            guard let count, count <= configuration.maxArrayLength else { throw .invalidMultibulkLength }
            if count <= 0 {
                buffer.moveReaderIndex(to: lineEnd)
                return false
            }
            var ranges = scratchRanges
            scratchRanges = []
            ranges.removeAll(keepingCapacity: true)
            ranges.reserveCapacity(min(count, 16))
            progress = MultibulkProgress(remaining: count, offset: lineEnd - start, ranges: ranges)
        }
        while progress!.remaining > 0 {
            let elementStart = start + progress!.offset
            guard elementStart < view.endIndex else { return false }
            guard view[elementStart] == UInt8(ascii: "$") else { throw .expectedDollar(got: view[elementStart]) }
            guard let (length, lineEnd) = try readCountLine(view, at: elementStart + 1, tooBig: .tooBigBulkCountLine) else {
                return false
            }
            guard let length, length >= 0, length <= configuration.maxBulkLength else { throw .invalidBulkLength }
            guard view.endIndex - lineEnd >= length + 2 else { return false }
            guard view[lineEnd + length] == UInt8(ascii: "\r"), view[lineEnd + length + 1] == UInt8(ascii: "\n") else {
                throw .missingTerminator
            }
            progress!.ranges.append((lineEnd - start, length))
            progress!.offset = lineEnd + length + 2 - start
            progress!.remaining -= 1
        }
        let finished = progress!
        progress = nil
        arguments.removeAll(keepingCapacity: true)
        arguments.reserveCapacity(finished.ranges.count)
        for range in finished.ranges {
            arguments.append(buffer.getSlice(at: buffer.readerIndex + range.offset, length: range.length)!)
        }
        buffer.moveReaderIndex(forwardBy: finished.offset)
        scratchRanges = finished.ranges
        return true
    }

    /// The fast path: a well-formed request that is entirely in `buffer`, scanned once over raw
    /// bytes. Anything else (incomplete, malformed, over a limit, unusual digits) returns false
    /// without consuming, and the incremental path above takes over, with its exact errors.
    private mutating func parseWhole(_ buffer: inout ByteBuffer, into arguments: inout [ByteBuffer]) -> Bool {
        var ranges = scratchRanges
        scratchRanges = []
        ranges.removeAll(keepingCapacity: true)
        let maxArray = configuration.maxArrayLength
        let maxBulk = configuration.maxBulkLength
        let consumed = buffer.withUnsafeReadableBytes { bytes -> Int? in
            let count = bytes.count
            /// A positive decimal without leading zeros, up to `\r\n`; (value, index after `\n`).
            func number(from start: Int) -> (Int, Int)? {
                var index = start
                var value = 0
                while index < count, index - start < 12 {
                    let byte = bytes[index]
                    if byte == 13 {
                        guard index > start, index + 1 < count, bytes[index + 1] == 10 else { return nil }
                        if bytes[start] == UInt8(ascii: "0") && index - start > 1 { return nil }
                        return (value, index + 2)
                    }
                    guard byte >= 48 && byte <= 57 else { return nil }
                    value = value * 10 + Int(byte - 48)
                    index += 1
                }
                return nil
            }
            guard count > 3, let (elements, afterCount) = number(from: 1), elements > 0, elements <= maxArray else { return nil }
            var index = afterCount
            for _ in 0..<elements {
                guard index < count, bytes[index] == UInt8(ascii: "$"),
                      let (length, bodyStart) = number(from: index + 1), length <= maxBulk,
                      bodyStart + length + 2 <= count,
                      bytes[bodyStart + length] == 13, bytes[bodyStart + length + 1] == 10 else { return nil }
                ranges.append((bodyStart, length))
                index = bodyStart + length + 2
            }
            return index
        }
        defer { scratchRanges = ranges }
        guard let consumed else { return false }
        arguments.removeAll(keepingCapacity: true)
        arguments.reserveCapacity(ranges.count)
        let base = buffer.readerIndex
        for range in ranges {
            arguments.append(buffer.getSlice(at: base + range.offset, length: range.length)!)
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        return true
    }

    /// Reads a decimal count terminated by `\r\n` starting at `index`.
    /// Returns nil when the line is incomplete; the count is nil when it is not a valid integer.
    private func readCountLine(
        _ view: ByteBufferView, at index: Int, tooBig: RESPProtocolError
    ) throws(RESPProtocolError) -> (Int?, Int)? {
        guard let cr = view[index...].firstIndex(of: UInt8(ascii: "\r")) else {
            if view.endIndex - index > configuration.maxInlineLength { throw tooBig }
            return nil
        }
        guard cr + 1 < view.endIndex else { return nil }
        guard cr - index <= configuration.maxInlineLength else { throw tooBig }
        return (Self.parseInteger(view[index..<cr]), cr + 2)
    }

    /// Redis's strict integer syntax: optional `-`, digits, no leading zeros, no overflow.
    static func parseInteger(_ bytes: ByteBufferView.SubSequence) -> Int? {
        var iterator = bytes.makeIterator()
        guard var byte = iterator.next() else { return nil }
        var negative = false
        if byte == UInt8(ascii: "-") {
            negative = true
            guard let next = iterator.next() else { return nil }
            byte = next
        }
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        if byte == UInt8(ascii: "0") { return bytes.count == 1 ? 0 : nil }
        var value = Int(byte - UInt8(ascii: "0"))
        while let digit = iterator.next() {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return negative ? -value : value
    }

    // MARK: inline

    private func parseInline(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPRequest? {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > configuration.maxInlineLength { throw .tooBigInlineRequest }
            return nil
        }
        guard newline - view.startIndex <= configuration.maxInlineLength else { throw .tooBigInlineRequest }
        var lineEnd = newline
        if lineEnd > view.startIndex && view[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
        let words = try InlineSplitter.split(view[view.startIndex..<lineEnd])
        buffer.moveReaderIndex(to: newline + 1)
        guard !words.isEmpty else { return nil }
        return RESPRequest(arguments: words.map { ByteBuffer(bytes: $0) })
    }
}

/// Splits an inline command line into words with Redis's quoting rules: `"…"` with backslash
/// escapes (`\n \r \t \b \a \\ \" \xHH`), `'…'` with `\'`, and a closing quote that must be
/// followed by a space or the end of the line.
enum InlineSplitter {
    static func split(_ line: ByteBufferView.SubSequence) throws(RESPProtocolError) -> [[UInt8]] {
        let bytes = Array(line)
        var words: [[UInt8]] = []
        var i = 0
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 || b == 0x0B || b == 0x0C }
        func hexValue(_ b: UInt8) -> UInt8? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while true {
            while i < bytes.count && isSpace(bytes[i]) { i += 1 }
            if i == bytes.count { return words }
            var word: [UInt8] = []
            var inDouble = false, inSingle = false
            wordLoop: while true {
                if inDouble {
                    guard i < bytes.count else { throw .unbalancedQuotes }
                    let b = bytes[i]
                    if b == UInt8(ascii: "\\"), i + 3 < bytes.count, bytes[i + 1] == UInt8(ascii: "x"),
                       let high = hexValue(bytes[i + 2]), let low = hexValue(bytes[i + 3]) {
                        word.append(high << 4 | low)
                        i += 3
                    } else if b == UInt8(ascii: "\\"), i + 1 < bytes.count {
                        i += 1
                        switch bytes[i] {
                        case UInt8(ascii: "n"): word.append(0x0A)
                        case UInt8(ascii: "r"): word.append(0x0D)
                        case UInt8(ascii: "t"): word.append(0x09)
                        case UInt8(ascii: "b"): word.append(0x08)
                        case UInt8(ascii: "a"): word.append(0x07)
                        default: word.append(bytes[i])
                        }
                    } else if b == UInt8(ascii: "\"") {
                        if i + 1 < bytes.count && !isSpace(bytes[i + 1]) { throw .unbalancedQuotes }
                        i += 1
                        break wordLoop
                    } else {
                        word.append(b)
                    }
                } else if inSingle {
                    guard i < bytes.count else { throw .unbalancedQuotes }
                    let b = bytes[i]
                    if b == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "'") {
                        i += 1
                        word.append(UInt8(ascii: "'"))
                    } else if b == UInt8(ascii: "'") {
                        if i + 1 < bytes.count && !isSpace(bytes[i + 1]) { throw .unbalancedQuotes }
                        i += 1
                        break wordLoop
                    } else {
                        word.append(b)
                    }
                } else {
                    guard i < bytes.count else { break wordLoop }
                    let b = bytes[i]
                    if isSpace(b) { break wordLoop }
                    if b == UInt8(ascii: "\"") {
                        inDouble = true
                    } else if b == UInt8(ascii: "'") {
                        inSingle = true
                    } else {
                        word.append(b)
                    }
                }
                i += 1
            }
            words.append(word)
        }
    }
}
