import Foundation

/// A JSON document (RFC 8259) parsed from untrusted bytes with bounds: nesting depth and
/// UTF-8 are checked as it is read, so a hostile payload is an error, never a crash or an
/// unbounded allocation beyond its own size. Numbers are Doubles (integers beyond 2^53 lose
/// precision); an object's later duplicate key wins, as in most parsers.
public indirect enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// Why bytes are not a JSON document Lookout will read.
    public enum ParseError: Error, Hashable, Sendable {
        /// Not JSON at `offset` (or not UTF-8 inside a string).
        case invalid(offset: Int)
        /// Nested deeper than the limit.
        case tooDeep
    }

    /// Parses a whole document (whitespace around it allowed, nothing else).
    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = 64) throws(ParseError) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer throws(ParseError) in
            var parser = Parser(bytes: buffer, maxDepth: maxDepth)
            parser.skipWhitespace()
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.position == buffer.count else { throw .invalid(offset: parser.position) }
            return value
        }
    }

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The value a JSON pointer (RFC 6901: empty, or `/a/0/b~1c`) names in this document, or nil.
    public func value(at pointer: String) -> JSONValue? {
        guard pointer.isEmpty || pointer.hasPrefix("/") else { return nil }
        var target = self
        for token in pointer.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            let name = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch target {
            case .object(let members) where members[name] != nil: target = members[name]!
            case .array(let list) where Int(name).map({ list.indices.contains($0) }) == true: target = list[Int(name)!]
            default: return nil
            }
        }
        return target
    }

    /// A name as one token of a JSON pointer (`~` as `~0`, `/` as `~1`).
    public static func pointerToken(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// The document as compact JSON text (integral numbers without a fraction).
    public var text: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(let value):
            if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
            return "\(value)"
        case .string(let value): return Self.quoted(value)
        case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { Self.quoted($0.key) + ":" + $0.value.text }.joined(separator: ",") + "}"
        }
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The text of a string, or nil.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// JSON Schema's type name: null, boolean, number, string, array or object.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        let maxDepth: Int
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        private func fail() -> ParseError { .invalid(offset: position) }

        mutating func value(depth: Int) throws(ParseError) -> JSONValue {
            guard position < bytes.count else { throw fail() }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return .number(try number())
            }
        }

        private mutating func literal(_ word: StaticString) throws(ParseError) {
            let count = word.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw fail() }
            for index in 0..<count where bytes[position + index] != word.utf8Start[index] { throw fail() }
            position += count
        }

        private mutating func object(depth: Int) throws(ParseError) -> JSONValue {
            guard depth <= maxDepth else { throw .tooDeep }
            position += 1
            var members: [JSONObject.Member] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(JSONObject(uniquing: members))
            }
            members.reserveCapacity(8)  // one allocation for most objects, not four
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw fail() }
                let key = try string()
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw fail() }
                position += 1
                skipWhitespace()
                members.append((key, try value(depth: depth)))
                skipWhitespace()
                guard position < bytes.count else { throw fail() }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                } else if bytes[position] == UInt8(ascii: "}") {
                    position += 1
                    return .object(JSONObject(uniquing: members))
                } else {
                    throw fail()
                }
            }
        }

        private mutating func array(depth: Int) throws(ParseError) -> JSONValue {
            guard depth <= maxDepth else { throw .tooDeep }
            position += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth))
                skipWhitespace()
                guard position < bytes.count else { throw fail() }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                } else if bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    return .array(elements)
                } else {
                    throw fail()
                }
            }
        }

        private mutating func string() throws(ParseError) -> String {
            position += 1
            let start = position
            // Most strings have no escape: one copy of their bytes, validated unless all ASCII.
            var highBits: UInt8 = 0
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    defer { position += 1 }
                    let utf8 = UnsafeBufferPointer(rebasing: bytes[start..<position])
                    return highBits & 0x80 == 0 ? String(decoding: utf8, as: UTF8.self) : try text(utf8, at: start)
                }
                highBits |= byte
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw fail() }
                position += 1
            }
            var utf8 = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    position += 1
                    return try utf8.withUnsafeBufferPointer { buffer throws(ParseError) in try text(buffer, at: start) }
                }
                if byte < 0x20 { throw fail() }
                position += 1
                guard byte == UInt8(ascii: "\\") else {
                    utf8.append(byte)
                    continue
                }
                guard position < bytes.count else { throw fail() }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800...0xDBFF).contains(code) {
                        // A high surrogate must be followed by an escaped low one.
                        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                        else { throw fail() }
                        position += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail() }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail() }
                    UTF8.encode(scalar) { utf8.append($0) }
                default:
                    throw fail()
                }
            }
            throw fail()
        }

        /// UTF-8 bytes as a String; not UTF-8 is an error at `offset`.
        private func text(_ utf8: UnsafeBufferPointer<UInt8>, at offset: Int) throws(ParseError) -> String {
            guard let text = String(validating: utf8, as: UTF8.self) else { throw .invalid(offset: offset) }
            return text
        }

        private mutating func hex4() throws(ParseError) -> UInt32 {
            guard position + 4 <= bytes.count else { throw fail() }
            var code: UInt32 = 0
            for _ in 0..<4 {
                guard let digit = Character(Unicode.Scalar(bytes[position])).hexDigitValue else { throw fail() }
                code = code << 4 | UInt32(digit)
                position += 1
            }
            return code
        }

        private mutating func number() throws(ParseError) -> Double {
            let start = position
            func digits() -> Int {
                let first = position
                while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
                return position - first
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count else { throw fail() }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
            } else if digits() == 0 {
                throw fail()
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw fail() }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw fail() }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            guard let value = Double(text) else { throw .invalid(offset: start) }
            return value
        }
    }
}

/// A JSON object's members, each name once, in the order written (a later duplicate replaces
/// the earlier one). A list rather than a dictionary: events have a handful of members, and
/// building no hash table per object makes parsing about a third cheaper.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Member = (key: String, value: JSONValue)
    private var members: [Member]

    /// `members` with a later duplicate name replacing the earlier one.
    public init(uniquing members: [Member]) {
        self.members = members
        guard members.count > 1 else { return }
        let hasDuplicates: Bool
        if members.count <= 16 {
            hasDuplicates = members.indices.contains { index in members[..<index].contains { $0.key == members[index].key } }
        } else {
            var names = Set<String>()
            hasDuplicates = !members.allSatisfy { names.insert($0.key).inserted }
        }
        guard hasDuplicates else { return }
        var last: [String: Int] = [:]
        for (index, member) in members.enumerated() { last[member.key] = index }
        self.members = members.enumerated().filter { last[$0.element.key] == $0.offset }.map(\.element)
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(uniquing: elements.map { (key: $0.0, value: $0.1) })
    }

    /// The member named `key`, or nil.
    public subscript(key: String) -> JSONValue? {
        members.first { $0.key == key }?.value
    }

    public var count: Int { members.count }

    public func makeIterator() -> IndexingIterator<[Member]> { members.makeIterator() }

    /// Equal when they have the same names with equal values, in any order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.count == rhs.count && lhs.members.allSatisfy { rhs[$0.key] == $0.value }
    }

    public func hash(into hasher: inout Hasher) {
        // Order-independent: the members' own hashes, combined commutatively.
        hasher.combine(members.reduce(0) { $0 ^ (($1.key.hashValue &* 31) &+ $1.value.hashValue) })
    }
}
