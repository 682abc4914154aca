import Foundation

/// Finds a publish timestamp inside a JSON message, for publish-to-observe latency on Redis.
///
/// Looks for `"<field>": <number>` (milliseconds since the epoch) or `"<field>": "<RFC 3339>"`
/// at any depth, with a byte scan rather than a full JSON parse: it runs once per observed
/// message. Anything else (not JSON, no such field, another type) yields nil.
public struct EnvelopeTimestamp: Sendable {
    public let field: String
    private let needle: [UInt8]

    public init(field: String) {
        self.field = field
        self.needle = Array("\"\(field)\"".utf8)
    }

    /// Seconds since the epoch, or nil.
    public func seconds(in payload: [UInt8]) -> Double? {
        payload.withUnsafeBytes { seconds(in: $0) }
    }

    /// The same, read in place (a reader's buffer).
    public func seconds(in payload: UnsafeRawBufferPointer) -> Double? {
        guard payload.first == UInt8(ascii: "{"), payload.count >= needle.count else { return nil }
        var index = 0
        while let found = find(needle, in: payload, from: index) {
            var cursor = found + needle.count
            skipSpaces(payload, &cursor)
            guard cursor < payload.count, payload[cursor] == UInt8(ascii: ":") else {
                index = found + 1
                continue
            }
            cursor += 1
            skipSpaces(payload, &cursor)
            guard cursor < payload.count else { return nil }
            if payload[cursor] == UInt8(ascii: "\"") {
                guard let close = payload[(cursor + 1)...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
                return Self.rfc3339(String(decoding: payload[(cursor + 1)..<close], as: UTF8.self))
            }
            var end = cursor
            while end < payload.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(payload[end]) || payload[end] == UInt8(ascii: ".") {
                end += 1
            }
            return Double(String(decoding: payload[cursor..<end], as: UTF8.self)).map { $0 / 1000 }
        }
        return nil
    }

    private func skipSpaces(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int) {
        while cursor < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[cursor]) { cursor += 1 }
    }

    private func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        for i in start...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        }
        return nil
    }

    static func rfc3339(_ text: String) -> Double? {
        if let date = try? Date(text, strategy: .iso8601) { return date.timeIntervalSince1970 }
        let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return (try? fractional.parse(text))?.timeIntervalSince1970
    }
}
