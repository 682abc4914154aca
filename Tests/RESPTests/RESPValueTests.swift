import LookoutTestSupport
import NIOCore
import Testing

@testable import RESP

@Suite struct RESPValueTests {
    private func text(_ value: RESPValue, _ version: RESPVersion) -> String {
        String(buffer: value.encoded(version: version))
    }

    @Test func encodesRESP2() {
        #expect(text(.simpleString("OK"), .resp2) == "+OK\r\n")
        #expect(text(.error("ERR x"), .resp2) == "-ERR x\r\n")
        #expect(text(.integer(-42), .resp2) == ":-42\r\n")
        #expect(text(.integer(Int64.min), .resp2) == ":-9223372036854775808\r\n")
        #expect(text(.bulkString("hi"), .resp2) == "$2\r\nhi\r\n")
        #expect(text(.null, .resp2) == "$-1\r\n")
        #expect(text(.nullArray, .resp2) == "*-1\r\n")
        #expect(text(.array([.integer(1), .bulkString("a")]), .resp2) == "*2\r\n:1\r\n$1\r\na\r\n")
        #expect(text(.map([RESPMapEntry(.bulkString("k"), .integer(1))]), .resp2) == "*2\r\n$1\r\nk\r\n:1\r\n")
        #expect(text(.push([.bulkString("message")]), .resp2) == "*1\r\n$7\r\nmessage\r\n")
        #expect(text(.set([.simpleString("a")]), .resp2) == "*1\r\n+a\r\n")
        #expect(text(.boolean(true), .resp2) == ":1\r\n")
        #expect(text(.double(1.5), .resp2) == "$3\r\n1.5\r\n")
        #expect(text(.verbatimText("x"), .resp2) == "$1\r\nx\r\n")
        #expect(text(.bigNumber("123"), .resp2) == "$3\r\n123\r\n")
    }

    @Test func encodesRESP3() {
        #expect(text(.null, .resp3) == "_\r\n")
        #expect(text(.nullArray, .resp3) == "_\r\n")
        #expect(text(.map([RESPMapEntry(.bulkString("k"), .integer(1))]), .resp3) == "%1\r\n$1\r\nk\r\n:1\r\n")
        #expect(text(.push([.bulkString("message")]), .resp3) == ">1\r\n$7\r\nmessage\r\n")
        #expect(text(.set([.simpleString("a")]), .resp3) == "~1\r\n+a\r\n")
        #expect(text(.boolean(false), .resp3) == "#f\r\n")
        #expect(text(.double(2), .resp3) == ",2\r\n")
        #expect(text(.double(.infinity), .resp3) == ",inf\r\n")
        #expect(text(.verbatimText("x"), .resp3) == "=5\r\ntxt:x\r\n")
        #expect(text(.bigNumber("123"), .resp3) == "(123\r\n")
    }

    @Test func decimalWriterMatchesDescription() {
        var rng = SplitMix64(state: 7)
        for _ in 0..<2000 {
            let n = Int64(bitPattern: rng.next()) >> Int64.random(in: 0..<63, using: &rng)
            var buffer = ByteBuffer()
            buffer.writeDecimal(n)
            #expect(String(buffer: buffer) == String(n))
        }
    }

    static let samples: [RESPValue] = [
        .simpleString("OK"), .error("ERR no"), .integer(7), .bulkString("a\r\nb"), .null,
        .array([.integer(1), .array([.bulkString("nested")])]),
        .map([RESPMapEntry(.bulkString("k"), .set([.boolean(true)]))]),
        .push([.bulkString("message"), .bulkString("c"), .bulkString("")]),
        .double(0.25), .bigNumber("12345678901234567890"), .verbatimText("info"),
    ]

    @Test func resp3RoundTripsThroughTheParser() throws {
        for value in Self.samples {
            var buffer = value.encoded(version: .resp3)
            let parsed = try RESPValueParser().next(&buffer)
            #expect(parsed == value)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func parserWaitsForIncompleteValues() throws {
        let full = RESPValue.array([.bulkString("hello"), .integer(3)]).encoded(version: .resp3)
        for cut in 0..<full.readableBytes {
            var partial = full.getSlice(at: 0, length: cut)!
            #expect(try RESPValueParser().next(&partial) == nil)
            #expect(partial.readableBytes == cut)
        }
    }

    /// Found by `make fuzz` (resp-reply): a verbatim string whose format was not ASCII parsed,
    /// then encoded longer than its announced length; data not followed by CRLF was accepted.
    @Test(arguments: [
        Array("=7\r\n".utf8) + [0x8C, 0x8C, 0x8C] + Array(":abc\r\n".utf8),
        Array("=7\r\ntxtXabc\r\n".utf8),
        Array("=3\r\ntxt\r\n".utf8),
        Array("$3\r\nabcXY".utf8),
        Array("=8\r\ntxt:abc\r\nX".utf8),
    ])
    func malformedDataIsRefused(_ bytes: [UInt8]) {
        var buffer = ByteBuffer(bytes: bytes)
        #expect(throws: RESPProtocolError.self) { try RESPValueParser().next(&buffer) }
    }

    /// Found by `make fuzz` (resp-reply): a blob error (`!`) may hold CR LF; encoded as a simple
    /// error it broke the framing. Lines never carry CR or LF: they become spaces.
    @Test func linesNeverCarryCRorLF() throws {
        var blob = ByteBuffer(string: "!9\r\nERR a\r\nb!\r\n")
        let error = try #require(try RESPValueParser().next(&blob))
        #expect(error == .error("ERR a\r\nb!"))
        for value in [error, .simpleString("a\rb\nc"), .bigNumber("1\r\n2")] {
            for version in [RESPVersion.resp2, .resp3] {
                var encoded = value.encoded(version: version)
                let text = String(buffer: encoded)
                #expect(text.dropLast(2).allSatisfy { $0 != "\r" && $0 != "\n" }, "\(text)")
                #expect(try RESPValueParser().next(&encoded) != nil && encoded.readableBytes == 0, "one value, all of it")
            }
        }
        #expect(String(buffer: RESPValue.error("ERR a\r\nb").encoded(version: .resp2)) == "-ERR a  b\r\n")
    }

    @Test func parserCapsNesting() {
        var buffer = ByteBuffer(string: String(repeating: "*1\r\n", count: 100) + ":1\r\n")
        #expect(throws: RESPProtocolError.tooDeep) { try RESPValueParser(maxDepth: 10).next(&buffer) }
    }
}
