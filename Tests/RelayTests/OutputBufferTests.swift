import NIOCore
import RESP
import Testing

@testable import Relay

@Suite struct OutputBufferTests {
    private func text(_ buffer: OutputBuffer) -> String {
        String(decoding: buffer.bytes, as: UTF8.self)
    }

    @Test func appendsAreTheRESPBytes() {
        let buffer = OutputBuffer()
        buffer.appendRESPHeader(UInt8(ascii: ":"), 0)
        buffer.appendRESPHeader(UInt8(ascii: ":"), 9)
        buffer.appendRESPHeader(UInt8(ascii: ":"), 10)
        buffer.appendRESPHeader(UInt8(ascii: ":"), -42)
        buffer.appendRESPHeader(UInt8(ascii: ":"), Int.max)
        buffer.appendRESPHeader(UInt8(ascii: ":"), Int.min)
        buffer.appendBulkString(ByteBuffer(string: "héllo"))
        buffer.append("+OK\r\n")
        #expect(text(buffer) == ":0\r\n:9\r\n:10\r\n:-42\r\n:\(Int.max)\r\n:\(Int.min)\r\n$6\r\nhéllo\r\n+OK\r\n")
    }

    @Test func itGrowsKeepingWhatItHoldsAndCopiesFromItself() {
        let buffer = OutputBuffer(capacity: 16)
        buffer.append("0123456789")
        let big = ByteBuffer(repeating: UInt8(ascii: "x"), count: 10_000)
        buffer.append(big)
        #expect(buffer.count == 10_010 && buffer.capacity >= 10_010)
        // A copy of its own first ten bytes, made while it grows again.
        buffer.append(copyOf: 10, at: 0, in: buffer)
        let filler = buffer.capacity
        buffer.append(ByteBuffer(repeating: UInt8(ascii: "y"), count: filler))
        let other = OutputBuffer(capacity: 16)
        other.append(copyOf: 10, at: 10_010, in: buffer)
        #expect(text(other) == "0123456789")
        let expected = "0123456789" + String(repeating: "x", count: 10_000) + "0123456789" + String(repeating: "y", count: filler)
        #expect(buffer.count == 10_020 + filler && text(buffer) == expected)
    }

    @Test func clearingKeepsTheMemoryAndShrinksItAfterABurst() {
        let buffer = OutputBuffer()
        buffer.append(ByteBuffer(repeating: 1, count: 100_000))
        let grown = buffer.capacity
        buffer.clear()
        #expect(buffer.isEmpty && buffer.capacity == grown, "one clear keeps the memory for the next burst")
        for _ in 0..<OutputBuffer.shrinkAfter {
            buffer.append("small")
            buffer.clear()
        }
        #expect(buffer.capacity == grown / 2, "a run of small flushes gives half back")
        for _ in 0..<(OutputBuffer.shrinkAfter * 20) {
            buffer.append("small")
            buffer.clear()
        }
        #expect(buffer.capacity == OutputBuffer.initialCapacity)
    }

    @Test func messageFramesAreTheEncodedPushesForEveryReceiver() {
        let channel = ByteBuffer(string: "orders")
        let payload = ByteBuffer(string: "{\"id\":1}")
        for sharded in [false, true] {
            var frames = MessageFrames(channel: channel, payload: payload, sharded: sharded)
            let kind = sharded ? "smessage" : "message"
            let outboxes = (0..<3).map { _ in OutputBuffer() }
            for version in [RESPVersion.resp2, .resp3] {
                for outbox in outboxes { frames.write(to: outbox, version: version, pattern: nil) }
                frames.write(to: outboxes[0], version: version, pattern: ByteBuffer(string: "ord*"))
            }
            func push(_ version: RESPVersion, _ parts: [String]) -> String {
                String(buffer: RESPValue.push(parts.map { .bulkString(ByteBuffer(string: $0)) }).encoded(version: version))
            }
            let resp2 = push(.resp2, [kind, "orders", "{\"id\":1}"]), resp3 = push(.resp3, [kind, "orders", "{\"id\":1}"])
            let patterned2 = push(.resp2, ["pmessage", "ord*", "orders", "{\"id\":1}"])
            let patterned3 = push(.resp3, ["pmessage", "ord*", "orders", "{\"id\":1}"])
            #expect(text(outboxes[0]) == resp2 + patterned2 + resp3 + patterned3)
            #expect(text(outboxes[1]) == resp2 + resp3 && text(outboxes[2]) == resp2 + resp3)
        }
    }
}
