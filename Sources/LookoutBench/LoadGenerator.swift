import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Subscribers that count what they receive and time each message from the timestamp in its
/// payload. Connections are spread over a few threads, each polling its share.
final class SubscriberPool: @unchecked Sendable {
    private let connections: [WireConnection]
    private let threadCount: Int
    private let stopping = Atomic<Bool>(false)
    private let receivedCount = Atomic<Int>(0)
    private let lastReceive = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)
    /// Latency samples per thread, in nanoseconds (each thread writes only its own).
    private var samples: [[UInt64]]
    private let sampleCapacity: Int

    /// - Parameter subscriptions: per connection, the commands that subscribe it (one reply each).
    init(port: Int, subscriptions: [[[String]]], threads: Int = 2, sampleCapacity: Int = 2_000_000) throws {
        connections = try subscriptions.map { commands in
            let connection = try WireConnection(port: port)
            for command in commands { _ = try connection.call(command) }
            return connection
        }
        threadCount = max(1, min(threads, connections.count))
        self.sampleCapacity = sampleCapacity
        samples = Array(repeating: [], count: threadCount)
    }

    var received: Int { receivedCount.load(ordering: .relaxed) }
    var lastReceiveNanoseconds: UInt64 { lastReceive.load(ordering: .relaxed) }

    func start() {
        guard !connections.isEmpty else { return }
        for index in 0..<threadCount {
            let thread = Thread { self.drain(thread: index) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Stops the threads and returns every latency sample.
    func stop() -> [UInt64] {
        guard !connections.isEmpty else { return [] }
        stopping.store(true, ordering: .relaxed)
        while finished.load(ordering: .acquiring) < threadCount { usleep(1000) }
        return samples.flatMap { $0 }
    }

    private func drain(thread: Int) {
        let mine = stride(from: thread, to: connections.count, by: threadCount).map { connections[$0] }
        var scanners = Array(repeating: MessageScanner(), count: mine.count)
        var pollers = mine.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        var latencies: [UInt64] = []
        latencies.reserveCapacity(sampleCapacity / threadCount)
        let capacity = sampleCapacity / threadCount
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)
        defer { buffer.deallocate() }
        while !stopping.load(ordering: .relaxed) {
            guard poll(&pollers, nfds_t(pollers.count), 50) > 0 else { continue }
            for index in pollers.indices where pollers[index].revents & Int16(POLLIN) != 0 {
                let count = recv(pollers[index].fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
                guard count > 0 else { continue }
                let now = monotonicNanoseconds()
                let before = scanners[index].messages
                scanners[index].feed(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) { sent in
                    if sent > 0 && sent <= now && latencies.count < capacity { latencies.append(now - sent) }
                }
                let delivered = scanners[index].messages - before
                if delivered > 0 {
                    receivedCount.add(delivered, ordering: .relaxed)
                    lastReceive.store(now, ordering: .relaxed)
                }
            }
        }
        samples[thread] = latencies
        finished.add(1, ordering: .releasing)
    }
}

/// Publishes pipelined PUBLISH commands, at the highest rate the server takes or at a fixed
/// rate, with the send time in every payload (`T` and 16 hex digits of CLOCK_MONOTONIC ns).
final class Publisher {
    private let connection: WireConnection
    private var batch: [UInt8] = []
    private var timestampOffsets: [Int] = []
    private let batchSize: Int

    /// - Parameter command: `PUBLISH`, or `SPUBLISH` for sharded pub/sub.
    init(port: Int, channels: [String], payloadSize: Int, command: String = "PUBLISH") throws {
        connection = try WireConnection(port: port)
        let payloadLength = max(17, payloadSize)
        let commandLength = 40 + payloadLength
        batchSize = max(1, min(64, (256 * 1024) / commandLength))
        for index in 0..<batchSize {
            let channel = channels[index % channels.count]
            batch += Array("*3\r\n$\(command.utf8.count)\r\n\(command)\r\n$\(channel.utf8.count)\r\n\(channel)\r\n$\(payloadLength)\r\n".utf8)
            timestampOffsets.append(batch.count + 1)
            batch += [UInt8(ascii: "T")] + Array(repeating: UInt8(ascii: "0"), count: 16) + Array(repeating: UInt8(ascii: "x"), count: payloadLength - 17)
            batch += [13, 10]
        }
        // Channels beyond the batch size are reached by rotating the batch's channel names.
        if channels.count > batchSize { rotation = channels }
    }

    private var rotation: [String]?

    /// Publishes until `messages` are sent or `seconds` pass; returns how many were sent, all
    /// replies read. `rate` in messages per second, nil for as fast as the server goes.
    /// `delivered` (messages received, all subscribers together, for `receivers` per message)
    /// adds flow control: at most `window` messages are in flight end to end, so neither server
    /// piles up output buffers (nor disconnects a subscriber) in a throughput run.
    func run(messages: Int, seconds: Double, rate: Double? = nil, delivered: (() -> Int)? = nil, receivers: Int = 0,
             window: Int = 4096) throws -> Int {
        let inFlightLimit = min(window, max(8, (8 << 20) / (batch.count / batchSize)))
        func inFlight(_ sent: Int, _ acknowledged: Int) -> Int {
            guard let delivered, receivers > 0 else { return sent - acknowledged }
            return sent - min(acknowledged, delivered() / receivers)
        }
        if rotation != nil {
            return try runRotating(messages: messages, seconds: seconds, inFlight: inFlight, limit: inFlightLimit)
        }
        var sent = 0
        var acknowledged = 0
        let start = monotonicNanoseconds()
        let deadline = start + UInt64(seconds * 1e9)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        while sent < messages && monotonicNanoseconds() < deadline {
            if let rate {
                let due = start + UInt64(Double(sent) / rate * 1e9)
                // Sleep through most of the wait (leaving the CPU to the server), spin the rest.
                while case let now = monotonicNanoseconds(), now < due {
                    if due - now > 300_000 {
                        acknowledged += try readReplies(buffer, timeout: Int32((due - now) / 1_000_000))
                        let left = Int64(due) - Int64(monotonicNanoseconds())
                        if left > 300_000 { usleep(UInt32(left / 1000 - 200)) }
                    } else {
                        acknowledged += try readReplies(buffer, timeout: 0)
                    }
                }
            }
            if inFlight(sent, acknowledged) >= inFlightLimit {
                acknowledged += try readReplies(buffer, timeout: 1)
                continue
            }
            stamp(monotonicNanoseconds())
            try batch.withUnsafeBytes { try connection.send($0) }
            sent += batchSize
            acknowledged += try readReplies(buffer, timeout: 0)
        }
        while acknowledged < sent {
            let count = try readReplies(buffer, timeout: 5000)
            guard count > 0 else { throw BenchError("publisher: \(sent - acknowledged) replies missing") }
            acknowledged += count
        }
        return sent
    }

    /// One PUBLISH per channel in turn (for many channels): encoded per command.
    private func runRotating(messages: Int, seconds: Double, inFlight: (Int, Int) -> Int, limit: Int) throws -> Int {
        let channels = rotation!
        var sent = 0
        var acknowledged = 0
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        var encoded: [UInt8] = []
        encoded.reserveCapacity(64 * 80)
        while sent < messages && monotonicNanoseconds() < deadline {
            if inFlight(sent, acknowledged) >= limit {
                acknowledged += try readReplies(buffer, timeout: 1)
                continue
            }
            encoded.removeAll(keepingCapacity: true)
            let stamp = String(monotonicNanoseconds(), radix: 16)
            let payload = "T" + String(repeating: "0", count: 16 - stamp.count) + stamp
            for offset in 0..<64 {
                let channel = channels[(sent + offset) % channels.count]
                encoded += Array("*3\r\n$7\r\nPUBLISH\r\n$\(channel.utf8.count)\r\n\(channel)\r\n$17\r\n\(payload)\r\n".utf8)
            }
            try encoded.withUnsafeBytes { try connection.send($0) }
            sent += 64
            acknowledged += try readReplies(buffer, timeout: 0)
        }
        while acknowledged < sent {
            let count = try readReplies(buffer, timeout: 5000)
            guard count > 0 else { throw BenchError("publisher: \(sent - acknowledged) replies missing") }
            acknowledged += count
        }
        return sent
    }

    private func stamp(_ nanoseconds: UInt64) {
        batch.withUnsafeMutableBufferPointer { bytes in
            for offset in timestampOffsets {
                var value = nanoseconds
                for digit in stride(from: 15, through: 0, by: -1) {
                    let nibble = UInt8(value & 0xF)
                    bytes[offset + digit] = nibble < 10 ? 48 + nibble : 87 + nibble
                    value >>= 4
                }
            }
        }
    }

    /// Reads replies (`:n\r\n`, one line each) that have arrived; returns how many.
    private func readReplies(_ buffer: UnsafeMutableRawBufferPointer, timeout: Int32) throws -> Int {
        var poller = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeout) > 0 else { return 0 }
        let count = recv(connection.fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
        guard count > 0 else { return 0 }
        var lines = 0
        for index in 0..<count where buffer[index] == 10 { lines += 1 }
        return lines
    }
}

/// What one run of a load scenario measured.
struct LoadRun {
    var published: Int
    var received: Int
    /// Messages per second: published messages over the time until the last one was delivered
    /// to every subscriber (or, without subscribers, until the last reply).
    var rate: Double
    var latencies: [UInt64]
    var peakResidentBytes: Int
    /// The server's CPU (user + system) per message delivered (or published, with no
    /// subscriber), in microseconds: unlike messages per second, it does not depend on how much
    /// of the shared cores the load generator took.
    var cpuMicrosecondsPerMessage: Double

    func latency(_ quantile: Double) -> Double {
        guard !latencies.isEmpty else { return .nan }
        let sorted = latencies.sorted()
        return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * quantile))]) / 1e9
    }
}
