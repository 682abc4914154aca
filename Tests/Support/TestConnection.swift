#if canImport(Glibc)
import Glibc
#endif
import LookoutCore
import NIOCore
import RESP

package struct TestFailure: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// A blocking loopback TCP client for tests: raw bytes in, raw bytes out, with timeouts, so a
/// test sees exactly what a server wrote (and whether it closed the connection).
package final class TestConnection {
    private var fd: Int32
    package private(set) var closedByPeer = false
    private var pending: [UInt8] = []

    /// - Parameter buffers: this side's receive and send buffers, set before connecting (shrunk
    ///   after, Linux keeps the connection's window that small even once it grows again).
    package init(port: Int, host: String = "127.0.0.1", buffers: Int32? = nil) throws {
        // Close-on-exec: a server another test spawns meanwhile must not inherit this socket
        // (it would keep the connection open after this client closes it).
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        if var size = buffers {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let error = errno
            // close() once, through the instance: deinit runs after a failed init too, and a
            // second close of the same number would close whatever socket took it meanwhile.
            close()
            throw TestFailure("connect to \(host):\(port) failed: errno \(error)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    package func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    package func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed: errno \(errno)") }
            offset += n
        }
    }

    package func send(_ text: String) throws { try send(Array(text.utf8)) }

    package func send(command words: [[UInt8]]) throws {
        var buffer = ByteBuffer()
        RESPRequest(arguments: words.map { ByteBuffer(bytes: $0) }).encode(into: &buffer)
        try send(Array(buffer.readableBytesView))
    }

    package func send(command words: String...) throws { try send(command: words.map { Array($0.utf8) }) }

    /// One read of at most 64 KiB, waiting up to `timeoutMilliseconds`; nil on timeout.
    private func receiveChunk(timeoutMilliseconds: Int32) -> [UInt8]? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return nil }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 {
            closedByPeer = true
            return nil
        }
        return Array(chunk[..<n])
    }

    /// Reads RESP values until `stop` returns true for one; returns the raw bytes up to and
    /// including that value, and the values.
    package func read(until stop: (RESPValue) -> Bool, timeoutSeconds: Double = 10) throws -> (bytes: [UInt8], values: [RESPValue]) {
        let deadline = Self.now() + timeoutSeconds
        var values: [RESPValue] = []
        var consumed = 0
        while true {
            var buffer = ByteBuffer(bytes: pending[consumed...])
            while let value = try RESPValueParser().next(&buffer) {
                let end = pending.count - buffer.readableBytes
                values.append(value)
                if stop(value) {
                    let bytes = Array(pending[..<end])
                    pending.removeFirst(end)
                    return (bytes, values)
                }
                consumed = end
            }
            let remaining = deadline - Self.now()
            guard remaining > 0, let chunk = receiveChunk(timeoutMilliseconds: Int32(remaining * 1000)) else {
                throw TestFailure("no matching reply within \(timeoutSeconds)s (closed: \(closedByPeer)); got \(values)")
            }
            pending += chunk
        }
    }

    /// Reads `count` values.
    package func readValues(_ count: Int, timeoutSeconds: Double = 10) throws -> [RESPValue] {
        var seen = 0
        return try read(until: { _ in seen += 1; return seen == count }, timeoutSeconds: timeoutSeconds).values
    }

    /// Sends a command and returns its one reply.
    package func call(_ words: String...) throws -> RESPValue {
        try call(words: words)
    }

    private func call(words: [String]) throws -> RESPValue {
        try send(command: words.map { Array($0.utf8) })
        return try readValues(1)[0]
    }

    /// Sends what the socket takes now without waiting; returns how many bytes it took (0 when
    /// its buffers are full, as they are once the peer stops reading).
    package func offer(_ bytes: ArraySlice<UInt8>) -> Int {
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)) }
        return max(0, sent)
    }

    /// Sets this side's receive buffer (see `buffers` in `init`).
    package func setReceiveBuffer(bytes: Int32) {
        var size = bytes
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Reads and drops `count` bytes (replies too many to parse one by one); returns how many
    /// arrived before `timeoutSeconds` passed.
    package func discard(_ count: Int, timeoutSeconds: Double = 30) -> Int {
        let deadline = Self.now() + timeoutSeconds
        var read = min(count, pending.count)
        pending.removeFirst(read)
        while read < count, !closedByPeer, Self.now() < deadline {
            if let chunk = receiveChunk(timeoutMilliseconds: 100) { read += chunk.count }
        }
        return read
    }

    /// Reads until the peer closes (or the timeout passes); returns what arrived.
    package func readUntilClosed(timeoutSeconds: Double = 10) -> [UInt8] {
        let deadline = Self.now() + timeoutSeconds
        var bytes = pending
        pending = []
        while !closedByPeer, Self.now() < deadline {
            if let chunk = receiveChunk(timeoutMilliseconds: 100) { bytes += chunk }
        }
        return bytes
    }

    private static let origin = ContinuousClock.now

    /// Monotonic seconds, for deadlines.
    package static func now() -> Double {
        (ContinuousClock.now - origin).seconds
    }
}

/// A test uses each connection from one task at a time, handing it to the thread pool and back
/// (``offThePool(_:)``), never from two threads at once.
extension TestConnection: @unchecked Sendable {}

/// The waiting reads from an async test: the wait runs on the test I/O threads
/// (``offThePool(_:)``), never on the concurrency pool the Lookout under test needs.
extension TestConnection {
    /// Sends a command and returns its one reply.
    package func call(_ words: String...) async throws -> RESPValue {
        let words = words
        return try await offThePool { try self.call(words: words) }
    }

    /// Reads `count` values.
    package func readValues(_ count: Int, timeoutSeconds: Double = 10) async throws -> [RESPValue] {
        try await offThePool { try self.readValues(count, timeoutSeconds: timeoutSeconds) as [RESPValue] }
    }

    /// Reads and drops `count` bytes; returns how many arrived before `timeoutSeconds` passed.
    package func discard(_ count: Int, timeoutSeconds: Double = 30) async throws -> Int {
        try await offThePool { self.discard(count, timeoutSeconds: timeoutSeconds) as Int }
    }

    /// Reads until the peer closes (or the timeout passes); returns what arrived.
    package func readUntilClosed(timeoutSeconds: Double = 10) async throws -> [UInt8] {
        try await offThePool { self.readUntilClosed(timeoutSeconds: timeoutSeconds) as [UInt8] }
    }
}
