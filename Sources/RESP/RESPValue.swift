import NIOCore

/// The protocol version a connection speaks: RESP2 (the default) or RESP3 (after `HELLO 3`).
public enum RESPVersion: Int, Sendable, Hashable {
    case resp2 = 2
    case resp3 = 3
}

/// One RESP value, with every type of RESP2 and RESP3.
///
/// Encoding for a RESP2 peer downgrades the RESP3-only types the way Redis does: maps, sets and
/// pushes become arrays, doubles and big numbers become bulk strings, booleans become integers.
public enum RESPValue: Sendable, Hashable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    case bulkString(ByteBuffer)
    /// RESP2 null bulk string (`$-1`), RESP3 null (`_`).
    case null
    /// RESP2 null array (`*-1`), RESP3 null (`_`).
    case nullArray
    case array([RESPValue])
    case double(Double)
    case boolean(Bool)
    case bigNumber(String)
    case verbatimString(format: String, ByteBuffer)
    case map([RESPMapEntry])
    case set([RESPValue])
    case push([RESPValue])
}

/// A key and value of a RESP3 map, kept in order.
public struct RESPMapEntry: Sendable, Hashable {
    public var key: RESPValue
    public var value: RESPValue

    public init(_ key: RESPValue, _ value: RESPValue) {
        self.key = key
        self.value = value
    }
}

extension RESPValue {
    /// A bulk string holding the UTF-8 bytes of `string`.
    public static func bulkString(_ string: String) -> RESPValue {
        .bulkString(ByteBuffer(string: string))
    }

    /// A verbatim text string (`=…txt:`), sent as a plain bulk string to RESP2 peers.
    public static func verbatimText(_ string: String) -> RESPValue {
        .verbatimString(format: "txt", ByteBuffer(string: string))
    }

    /// The value's bytes as a string, for bulk, simple, verbatim strings and errors; nil otherwise.
    public var string: String? {
        switch self {
        case .simpleString(let s), .error(let s), .bigNumber(let s): return s
        case .bulkString(let b), .verbatimString(_, let b): return String(buffer: b)
        default: return nil
        }
    }

    /// The elements of an array, set or push; nil for other types.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let e), .set(let e), .push(let e): return e
        default: return nil
        }
    }
}
