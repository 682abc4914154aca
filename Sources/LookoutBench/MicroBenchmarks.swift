import CBenchSupport
import Foundation
import Glob
import LookoutCore
import Monitor
import Observations
import RelayMonitoring
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
        results.append(contractJudging(scale: scale))
        return results
    }

    /// A realistic 1 KiB CloudEvent (an order with lines) against a schema with nested objects, a `$ref`, a pattern and an enum,
    /// with the sequence and duplicate checks: what the monitor does per contracted message.
    static let contractBenchmarkName = "event contract: judge a 1 KiB CloudEvent (schema, sequence, duplicates)"

    static func contractJudging(scale: Int) -> Result {
        let schema = try! JSONSchema(try! JSONValue.parse(Array(#"""
            {"type": "object", "required": ["order_id", "customer", "lines", "total", "currency"],
             "properties": {
               "order_id": {"type": "string", "pattern": "^ord-[0-9]+$"},
               "customer": {"type": "object", "required": ["id", "email"],
                            "properties": {"id": {"type": "integer", "minimum": 1}, "email": {"type": "string", "maxLength": 254}}},
               "lines": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"$ref": "#/$defs/line"}},
               "total": {"type": "number", "minimum": 0},
               "currency": {"enum": ["EUR", "USD", "GBP"]},
               "note": {"type": ["string", "null"], "maxLength": 500}},
             "$defs": {"line": {"type": "object", "required": ["sku", "qty", "price"], "additionalProperties": false,
                                "properties": {"sku": {"type": "string", "minLength": 3}, "qty": {"type": "integer", "minimum": 1},
                                               "price": {"type": "number", "exclusiveMinimum": 0}}}}}
            """#.utf8)))
        let contract = EventContract(channels: "orders.*", format: .cloudevents, schemas: ["com.example.order.created": schema],
                                     requireSchema: true, checksSequence: true, duplicateWindow: 600)
        let lines = (0..<16).map { #"{"sku":"SKU-\#($0)","qty":\#($0 + 1),"price":19.95}"# }.joined(separator: ",")
        func event(_ sequence: Int) -> [UInt8] {
            Array(#"""
                {"specversion":"1.0","id":"evt-\#(sequence)","source":"/shop/checkout","type":"com.example.order.created","sequence":"\#(sequence)","time":"2026-12-03T10:00:00Z","datacontenttype":"application/json","data":{"order_id":"ord-\#(sequence)","customer":{"id":4711,"email":"jane.doe@example.com"},"lines":[\#(lines)],"total":1436.40,"currency":"EUR","note":"Leave the parcel with the neighbour at number 12 if nobody answers; the dog is friendly."}}
                """#.utf8)
        }
        let count = 20_000 * scale
        let events = (0..<count).map(event)
        precondition(events[0].count >= 900 && events[0].count <= 1100, "a 1 KiB event: \(events[0].count) B")
        var ledger = IntegrityLedger(contracts: ContractSet([contract]))
        var round = 0
        return measure(contractBenchmarkName, operations: count) {
            // A fresh ledger each round, so every event is new (no duplicates, in sequence).
            ledger = IntegrityLedger(contracts: ContractSet([contract]))
            round += 1
            for (index, payload) in events.enumerated() {
                guard case .accepted? = ledger.record(channel: "orders.created", payload: payload, now: Double(round * count + index))?.verdict else {
                    fatalError("the benchmark's event does not pass its contract")
                }
            }
        }
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
            if observed { blackHole(queue.drain().observations.count) }
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
