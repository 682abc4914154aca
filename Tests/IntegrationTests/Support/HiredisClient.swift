#if canImport(Glibc)
import Glibc
#endif
import CHiredis

/// A blocking hiredis connection, to check the relay against the C client that most Redis
/// bindings wrap.
final class HiredisClient {
    private let context: UnsafeMutablePointer<redisContext>

    init(port: Int, timeoutSeconds: Int = 5) throws {
        guard let context = redisConnect("127.0.0.1", Int32(port)) else { throw TestFailure("redisConnect returned nil") }
        guard context.pointee.err == 0 else {
            let message = withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            redisFree(context)
            throw TestFailure("hiredis: \(message)")
        }
        redisSetTimeout(context, timeval(tv_sec: timeoutSeconds, tv_usec: 0))
        self.context = context
    }

    deinit { redisFree(context) }

    /// A hiredis reply, flattened for assertions.
    enum Reply: Equatable {
        case string(String), integer(Int64), array([Reply]), null, error(String), status(String)
    }

    private func convert(_ reply: UnsafeMutablePointer<redisReply>) -> Reply {
        let r = reply.pointee
        func text() -> String { String(decoding: UnsafeRawBufferPointer(start: r.str, count: Int(r.len)), as: UTF8.self) }
        switch r.type {
        case REDIS_REPLY_STRING: return .string(text())
        case REDIS_REPLY_STATUS: return .status(text())
        case REDIS_REPLY_ERROR: return .error(text())
        case REDIS_REPLY_INTEGER: return .integer(r.integer)
        case REDIS_REPLY_ARRAY: return .array((0..<Int(r.elements)).map { convert(r.element[$0]!) })
        default: return .null
        }
    }

    /// Sends a command with binary-safe arguments and returns its reply.
    func command(_ words: [String]) throws -> Reply {
        let arguments = words.map { Array($0.utf8) }
        let pointers: [UnsafeMutablePointer<CChar>?] = arguments.map { bytes in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
            bytes.withUnsafeBytes { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            return p
        }
        defer { pointers.forEach { $0?.deallocate() } }
        let lengths = arguments.map { $0.count }
        var raw = pointers.map { UnsafePointer($0) }
        guard let reply = redisCommandArgv(context, Int32(words.count), &raw, lengths) else {
            throw TestFailure("hiredis command failed (err \(context.pointee.err))")
        }
        defer { freeReplyObject(reply) }
        return convert(reply.assumingMemoryBound(to: redisReply.self))
    }

    /// Waits for the next reply (a pushed message when subscribed).
    func nextReply() throws -> Reply {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK, let reply else {
            throw TestFailure("hiredis: no reply (err \(context.pointee.err))")
        }
        defer { freeReplyObject(reply) }
        return convert(reply.assumingMemoryBound(to: redisReply.self))
    }
}
