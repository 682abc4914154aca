#if canImport(Glibc)
import Glibc
#endif
import CHiredis
import LookoutCore
import NIOCore

/// A failure talking to Redis: connecting, a broken connection, or an error reply where none
/// was expected.
public struct RedisConnectionError: Error, CustomStringConvertible {
    public var description: String

    /// A link that stopped answering: nothing read for `seconds`.
    static func silent(for seconds: Double) -> RedisConnectionError {
        RedisConnectionError(description: "the link is silent: no reply for \(Duration.seconds(seconds.rounded()))")
    }
}

/// One blocking hiredis connection. Used from a single thread at a time (a source's own
/// thread, or a test), never from an event loop or the cooperative pool.
package final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    /// Where hiredis builds this connection's replies (freed with it, after the context).
    private let arena = ReplyArena()

    /// Connects (through a ``TLSTunnel`` for `rediss://`), then AUTH and CLIENT SETNAME.
    package init(_ url: RedisURL, clientName: String?, timeoutSeconds: Int = 2) throws {
        let timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        let connected: UnsafeMutablePointer<redisContext>?
        if let tls = url.tls {
            let descriptor = try TLSTunnel.open(host: url.host, port: url.port, settings: tls, timeout: .seconds(Int64(timeoutSeconds)))
            connected = redisConnectFd(descriptor)
            if connected == nil { close(descriptor) }
        } else {
            connected = redisConnectWithTimeout(url.host, Int32(url.port), timeout)
        }
        guard let context = connected else {
            throw RedisConnectionError(description: "cannot allocate a hiredis context")
        }
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            redisFree(context)
            throw RedisConnectionError(description: "connect to \(url): \(message)")
        }
        self.context = context
        arena.adopt(context.pointee.reader)
        redisSetTimeout(context, timeout)
        // A TLS link's keep-alive is on its TCP socket (the tunnel's); hiredis holds a local socket.
        if url.tls == nil { redisEnableKeepAlive(context) }
        if let password = url.password {
            let reply = try command(url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password])
            if case .error(let message) = reply { throw RedisConnectionError(description: "AUTH to \(url): \(message)") }
        }
        if let clientName { _ = try command(["CLIENT", "SETNAME", clientName]) }
    }

    deinit { redisFree(context) }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    private func failure(_ what: String) -> RedisConnectionError {
        RedisConnectionError(description: "\(what): \(Self.errorString(context))")
    }

    /// Sends a command and waits for its reply (binary-safe arguments).
    package func command(_ words: [String]) throws -> RedisReply {
        try append(words)
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK, let reply else { throw failure(words.first ?? "command") }
        defer { arena.reset() }
        return Self.convert(UnsafePointer(reply.assumingMemoryBound(to: redisReply.self)))
    }

    /// Waits for the next reply (a pushed message, when subscribed), up to the timeout.
    package func nextReply() throws -> RedisReply {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK, let reply else { throw failure("read") }
        defer { arena.reset() }
        return Self.convert(UnsafePointer(reply.assumingMemoryBound(to: redisReply.self)))
    }

    /// Queues a command without waiting for its reply.
    package func append(_ words: [String]) throws(RedisConnectionError) {
        let arguments = words.map { Array($0.utf8) }
        let status: Int32 = arguments.withUnsafeBufferPointer { _ in
            var pointers: [UnsafePointer<CChar>?] = []
            var storage: [UnsafeMutablePointer<CChar>] = []
            defer { storage.forEach { $0.deallocate() } }
            for bytes in arguments {
                let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, bytes.count))
                bytes.withUnsafeBytes { if let base = $0.baseAddress { UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: bytes.count) } }
                storage.append(p)
                pointers.append(UnsafePointer(p))
            }
            let lengths = arguments.map(\.count)
            return redisAppendCommandArgv(context, Int32(words.count), &pointers, lengths)
        }
        guard status == REDIS_OK else { throw failure("append") }
    }

    /// Writes queued commands on each connection, then waits up to `timeoutMilliseconds` for
    /// incoming data (one `poll(2)` over all of them, never longer) and hands each complete reply
    /// to `visit` (with its connection's index) as hiredis built it, valid only during the call:
    /// a reader takes what it needs in place, building no Swift value for a pushed message.
    /// Returns the error that broke each connection, or nil.
    package static func poll(_ connections: [RedisConnection], timeoutMilliseconds: Int32,
                             visit: (Int, UnsafePointer<redisReply>) -> Void) -> [RedisConnectionError?] {
        var failures = [RedisConnectionError?](repeating: nil, count: connections.count)
        var visited = false
        for (index, connection) in connections.enumerated() {
            do throws(RedisConnectionError) {
                try connection.flushWrites()
                visited = try connection.visitBufferedReplies { visit(index, $0) } || visited
            } catch {
                failures[index] = error
            }
        }
        // Wait only when nothing is already buffered or broken.
        guard !visited && failures.allSatisfy({ $0 == nil }) else { return failures }
        var descriptors = connections.map { pollfd(fd: $0.context.pointee.fd, events: Int16(POLLIN), revents: 0) }
        guard Glibc.poll(&descriptors, nfds_t(descriptors.count), timeoutMilliseconds) > 0 else { return failures }
        for (index, descriptor) in descriptors.enumerated() where descriptor.revents != 0 {
            do throws(RedisConnectionError) {
                guard redisBufferRead(connections[index].context) == REDIS_OK else { throw connections[index].failure("read") }
                _ = try connections[index].visitBufferedReplies { visit(index, $0) }
            } catch {
                failures[index] = error
            }
        }
        return failures
    }

    private func flushWrites() throws(RedisConnectionError) {
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw failure("write") }
        }
    }

    /// Hands every complete reply already read to `visit`, then frees it; true when there was one.
    private func visitBufferedReplies(_ visit: (UnsafePointer<redisReply>) -> Void) throws(RedisConnectionError) -> Bool {
        var any = false
        while true {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReplyFromReader(context, &reply) == REDIS_OK else { throw failure("protocol") }
            guard let reply else { return any }
            any = true
            visit(reply.assumingMemoryBound(to: redisReply.self))
            arena.reset()
        }
    }

    /// A reply as a Swift value.
    package static func convert(_ reply: UnsafePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        func bytes() -> [UInt8] { Array(UnsafeRawBufferPointer(start: r.str, count: Int(r.len))) }
        switch r.type {
        case REDIS_REPLY_STRING: return .bytes(bytes())
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(r.integer)
        case REDIS_REPLY_ARRAY: return .array((0..<Int(r.elements)).map { convert(UnsafePointer(r.element[$0]!)) })
        default: return .null
        }
    }
}

extension RedisConnection {
    /// The deployment as `node` describes it: `CLUSTER SHARDS` (or `CLUSTER SLOTS` where that is
    /// missing or not allowed), or a plain Redis when cluster support is off; nil when the
    /// answer cannot be read.
    func readTopology(_ node: RedisEndpoint) throws -> ClusterTopology? {
        let reply = try command(["CLUSTER", "SHARDS"])
        guard case .error(let message) = reply else { return ClusterTopology.parse(shards: reply, seedHost: node.host) }
        if message.contains("cluster support disabled") { return .standalone(host: node.host, port: node.port) }
        return ClusterTopology.parse(slots: try command(["CLUSTER", "SLOTS"]), seedHost: node.host)
    }
}
