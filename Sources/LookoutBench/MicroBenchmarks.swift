import CBenchSupport
import Foundation
import Glob
import LookoutCore
import Monitor
import NIOCore
import PubSubCore
import RESP
import Relay

/// The hot pure code, in process: time, heap allocations and (where the kernel allows)
/// instructions per operation. Allocations and instructions are stable on a noisy machine.
enum MicroBenchmarks {
    struct Result {
        var name: String
        var nanoseconds: Double
        var allocations: Double
        /// Nil when perf events are not available here.
        var instructions: Double?
    }

    /// Runs `body` (which performs `operations` operations) a few times after a warm-up; the
    /// best time, the allocations and instructions of the last round.
    static func measure(_ name: String, operations: Int, rounds: Int = 5, _ body: () -> Void) -> Result {
        body()
        var best = Double.infinity
        var allocations = 0.0
        var instructions: Double?
        let counter = bench_instructions_open()
        defer { bench_instructions_close(counter) }
        for _ in 0..<rounds {
            let allocationsBefore = bench_allocations()
            let instructionsBefore = bench_instructions_read(counter)
            let start = monotonicNanoseconds()
            body()
            let elapsed = Double(monotonicNanoseconds() - start)
            let instructionsAfter = bench_instructions_read(counter)
            allocations = Double(bench_allocations() - allocationsBefore) / Double(operations)
            if counter >= 0 { instructions = Double(instructionsAfter - instructionsBefore) / Double(operations) }
            best = min(best, elapsed / Double(operations))
        }
        return Result(name: name, nanoseconds: best, allocations: allocations, instructions: instructions)
    }

    static func run(quick: Bool) -> [Result] {
        let scale = quick ? 1 : 5
        var results: [Result] = []

        // RESP: parsing pipelined PUBLISH requests.
        var requests = ByteBuffer()
        for index in 0..<1000 { RESPRequest("PUBLISH", "orders.eu.created", "payload-\(index)").encode(into: &requests) }
        results.append(measure("RESP: parse one PUBLISH request", operations: 1000 * 20 * scale) {
            var parser = RESPRequestParser()
            for _ in 0..<(20 * scale) {
                var buffer = requests
                while let request = try? parser.next(&buffer) { blackHole(request.arguments.count) }
            }
        })

        // Glob matching with Redis's semantics.
        let pattern = Array("orders.*.created".utf8)
        let subject = Array("orders.eu-west-1.created".utf8)
        results.append(measure("glob: match orders.*.created", operations: 1_000_000 * scale) {
            pattern.withUnsafeBytes { p in
                subject.withUnsafeBytes { s in
                    for _ in 0..<(1_000_000 * scale) { blackHole(GlobPattern.matches(pattern: p, subject: s)) }
                }
            }
        })

        // Registry fan-out lookup: 10,000 channels with a subscriber each, and 100 patterns.
        var registry = SubscriptionRegistry<Int>()
        for index in 0..<10_000 { _ = registry.subscribe(index, to: ByteBuffer(string: "bench:\(index)"), kind: .channel) }
        for index in 0..<100 { _ = registry.subscribe(20_000 + index, to: ByteBuffer(string: "other:\(index):*"), kind: .pattern) }
        let channel = ByteBuffer(string: "bench:5000")
        results.append(measure("registry: receivers of a channel (10,000 channels, 100 patterns)", operations: 100_000 * scale) {
            for _ in 0..<(100_000 * scale) {
                blackHole(registry.forEachReceiver(ofChannel: channel) { subscriber, _ in blackHole(subscriber) })
            }
        })

        // Channel statistics: one message counted.
        var statistics = ChannelStatistics()
        results.append(measure("channel statistics: count one message", operations: 1_000_000 * scale) {
            for index in 0..<(1_000_000 * scale) {
                statistics.recordMessage(label: "orders", bytes: 64, receivers: 1, at: Double(index))
            }
        })
        return results
    }

    // MARK: The relay's fan-out path, in process

    struct FanOutResult {
        var messages: Int
        var allocationsPerMessage: Double
        var observed: Bool
    }

    /// Allocations per message published through an in-process relay to one subscriber, over
    /// loopback, once warmed up. The client (blocking sockets, pre-encoded requests, fixed
    /// buffers) allocates nothing per message, so what is counted is the relay's.
    static func relayFanOut(observed: Bool, quick: Bool) async throws -> FanOutResult {
        let queue = ObservationQueue(capacity: 1 << 20)
        let relay = RelayServer(configuration: RelayConfiguration(host: "127.0.0.1", port: 0),
                                observer: observed ? RelayTap(queue: queue) : nil)
        let address = try await relay.start()
        defer { Task { await relay.stop() } }
        let port = address.port ?? 0
        let pool = try SubscriberPool(port: port, subscriptions: [[["SUBSCRIBE", "bench"]]], threads: 1, sampleCapacity: 0)
        let publisher = try Publisher(port: port, channels: ["bench"], payloadSize: 16)
        pool.start()
        defer { _ = pool.stop() }
        func publish(_ count: Int) throws {
            let target = pool.received + count
            _ = try publisher.run(messages: count, seconds: 60, delivered: { pool.received }, receivers: 1)
            while pool.received < target { usleep(1000) }
            if observed { blackHole(queue.drain().count) }
        }
        try publish(200_000)
        let messages = quick ? 200_000 : 1_000_000
        let before = bench_allocations()
        // Drain the monitor's queue in slices, as the monitor would, so it never overflows.
        var done = 0
        while done < messages {
            try publish(min(50_000, messages - done))
            done += 50_000
        }
        let allocations = bench_allocations() - before
        return FanOutResult(messages: messages, allocationsPerMessage: Double(allocations) / Double(messages), observed: observed)
    }
}

/// Keeps a value alive so the optimizer cannot drop the work that made it.
@inline(never) func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
