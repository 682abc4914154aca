import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP connection to 127.0.0.1 with plain POSIX calls: the load generator's client,
/// deliberately simple and allocation-free per message, the same for Redis and for Lookout.
final class WireConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw BenchError("connect to 127.0.0.1:\(port): errno \(errno)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close(fd)
    }

    func send(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            guard sent > 0 else { throw BenchError("send: errno \(errno)") }
            offset += sent
        }
    }

    func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try send($0) }
    }

    /// Reads what is available into `buffer` (waiting up to `timeoutMilliseconds` for something);
    /// 0 on timeout.
    func receive(into buffer: UnsafeMutableRawBufferPointer, timeoutMilliseconds: Int32 = 1000) throws -> Int {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return 0 }
        let count = recv(fd, buffer.baseAddress, buffer.count, 0)
        guard count > 0 else { throw BenchError(count == 0 ? "connection closed" : "recv: errno \(errno)") }
        return count
    }

    /// Sends a command and waits for its whole reply (one RESP value) — for set-up, not load.
    func call(_ words: [String]) throws -> String {
        try send(RESPCommand.encode(words))
        var reply: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { buffer.deallocate() }
        while RESPCommand.completeValueLength(reply) == nil {
            let count = try receive(into: buffer, timeoutMilliseconds: 5000)
            guard count > 0 else { throw BenchError("no reply to \(words.first ?? "")") }
            reply += buffer.prefix(count)
        }
        return String(decoding: reply, as: UTF8.self)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// RESP requests, and just enough reply parsing for set-up.
enum RESPCommand {
    static func encode(_ words: [String]) -> [UInt8] {
        var out = Array("*\(words.count)\r\n".utf8)
        for word in words {
            out += Array("$\(word.utf8.count)\r\n".utf8) + Array(word.utf8) + [13, 10]
        }
        return out
    }

    /// The length of the first complete RESP2 value in `bytes`, or nil if it is not complete.
    static func completeValueLength(_ bytes: [UInt8], from start: Int = 0) -> Int? {
        guard start < bytes.count, let lineEnd = lineEnd(bytes, from: start) else { return nil }
        let header = String(decoding: bytes[(start + 1)..<lineEnd], as: UTF8.self)
        switch bytes[start] {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"):
            return lineEnd + 2 - start
        case UInt8(ascii: "$"):
            guard let length = Int(header) else { return nil }
            if length < 0 { return lineEnd + 2 - start }
            let end = lineEnd + 2 + length + 2
            return end <= bytes.count ? end - start : nil
        case UInt8(ascii: "*"):
            guard let count = Int(header) else { return nil }
            var position = lineEnd + 2
            for _ in 0..<max(0, count) {
                guard let length = completeValueLength(bytes, from: position) else { return nil }
                position += length
            }
            return position - start
        default:
            return nil
        }
    }

    private static func lineEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == 13 && bytes[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }
}

/// Reads pub/sub messages (`message` and `pmessage` arrays of bulk strings) from a byte stream
/// fed in arbitrary pieces, without allocating: counts them and hands each payload's timestamp
/// (16 hex digits after a `T`, nanoseconds of CLOCK_MONOTONIC) to `onLatency`.
struct MessageScanner {
    private enum State {
        case arrayHeader
        case bulkHeader
        case bulkBody(remaining: Int)
        case bulkEnd(remaining: Int)
    }

    private var state = State.arrayHeader
    private var number = 0
    private var negative = false
    private var elementsLeft = 0
    private var elementIndex = 0
    private var elementCount = 0
    private var timestamp: UInt64 = 0
    private var timestampDigits = -1
    private var headerType: UInt8 = 0
    /// The first bytes of the array's first element: `me`ssage and `pm`essage count; `su`bscribe,
    /// `ps`ubscribe and the rest are confirmations.
    private var kind: (UInt8, UInt8) = (0, 0)
    private var kindBytes = 0
    private(set) var messages = 0

    /// Feeds bytes; calls `onMessage(sentNanoseconds)` (0 when the payload carries no timestamp).
    mutating func feed(_ bytes: UnsafeRawBufferPointer, onMessage: (UInt64) -> Void) {
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            switch state {
            case .arrayHeader, .bulkHeader:
                if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "$") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "+") {
                    number = 0
                    negative = false
                    headerType = byte
                } else if byte == UInt8(ascii: "-") {
                    negative = true
                } else if byte >= 48 && byte <= 57 {
                    number = number * 10 + Int(byte - 48)
                } else if byte == 10 {
                    let value = negative ? -number : number
                    if case .arrayHeader = state {
                        // A confirmation (subscribe) is an array too; its elements are counted the same way.
                        elementsLeft = value
                        elementCount = value
                        elementIndex = 0
                        kindBytes = 0
                        state = .bulkHeader
                    } else if headerType == UInt8(ascii: ":") || headerType == UInt8(ascii: "+") || value < 0 {
                        finishElement(onMessage)
                    } else {
                        state = .bulkBody(remaining: value)
                        timestampDigits = (elementIndex == elementCount - 1) ? -1 : -2
                        timestamp = 0
                    }
                }
                index += 1
            case .bulkBody(let remaining):
                let take = min(remaining, count - index)
                if elementIndex == 0 {
                    for offset in 0..<take where kindBytes < 2 {
                        if kindBytes == 0 { kind.0 = bytes[index + offset] } else { kind.1 = bytes[index + offset] }
                        kindBytes += 1
                    }
                }
                if timestampDigits != -2 {
                    for offset in 0..<take { scanTimestamp(bytes[index + offset]) }
                }
                index += take
                state = remaining - take == 0 ? .bulkEnd(remaining: 2) : .bulkBody(remaining: remaining - take)
            case .bulkEnd(let remaining):
                index += 1
                if remaining == 1 { finishElement(onMessage) } else { state = .bulkEnd(remaining: 1) }
            }
        }
    }

    private mutating func scanTimestamp(_ byte: UInt8) {
        if timestampDigits == -1 {
            if byte == UInt8(ascii: "T") { timestampDigits = 0 }
        } else if timestampDigits >= 0 && timestampDigits < 16 {
            let digit: UInt64 = byte >= 97 ? UInt64(byte - 87) : UInt64(byte - 48)
            timestamp = timestamp << 4 | digit
            timestampDigits += 1
        }
    }

    private mutating func finishElement(_ onMessage: (UInt64) -> Void) {
        elementIndex += 1
        elementsLeft -= 1
        if elementsLeft <= 0 {
            let isMessage = (kind.0 == UInt8(ascii: "m") && kind.1 == UInt8(ascii: "e")) || (kind.0 == UInt8(ascii: "p") && kind.1 == UInt8(ascii: "m"))
            if isMessage {
                messages += 1
                onMessage(timestampDigits == 16 ? timestamp : 0)
            }
            state = .arrayHeader
        } else {
            state = .bulkHeader
        }
    }
}

/// Nanoseconds of CLOCK_MONOTONIC: the same clock in every process on the machine.
@inline(__always) func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
