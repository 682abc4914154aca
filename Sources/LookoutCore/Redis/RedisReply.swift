/// A reply from Redis (as the Redis sources copy it out of hiredis's reply object): a pure
/// value, so that what is parsed from it (topology, CLIENT LIST) is tested without a server.
public enum RedisReply: Sendable, Hashable {
    case string(String)
    case bytes([UInt8])
    case integer(Int64)
    case array([RedisReply])
    case status(String)
    case error(String)
    case null

    /// The text of a bulk or status string.
    public var text: String? {
        switch self {
        case .string(let s), .status(let s): return s
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }
}
