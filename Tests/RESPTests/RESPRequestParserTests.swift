import LookoutTestSupport
import NIOCore
import Testing

@testable import RESP

/// Parses every request in `bytes`; stops at the first error.
func parseAll(_ bytes: [UInt8], configuration: RESPRequestParser.Configuration = .init()) -> (requests: [[String]], error: RESPProtocolError?) {
    var parser = RESPRequestParser(configuration: configuration)
    var buffer = ByteBuffer(bytes: bytes)
    var requests: [[String]] = []
    do {
        while buffer.readableBytes > 0 {
            let before = buffer.readableBytes
            if let request = try parser.next(&buffer) {
                requests.append(request.arguments.map { String(decoding: $0.readableBytesView, as: UTF8.self) })
            } else if buffer.readableBytes == before {
                break
            }
        }
    } catch {
        return (requests, error)
    }
    return (requests, nil)
}

@Suite struct RESPRequestParserTests {
    static let binary: [UInt8] = Array("bin\r\n\0\r".utf8)

    /// Valid requests of every shape, concatenated, and what they parse to.
    static let corpus: [(bytes: [UInt8], expected: [[String]])] = [
        (Array("*1\r\n$4\r\nPING\r\n".utf8), [["PING"]]),
        (Array("*3\r\n$7\r\nPUBLISH\r\n$6\r\norders\r\n$2\r\nhi\r\n".utf8), [["PUBLISH", "orders", "hi"]]),
        (Array("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n".utf8), [["ECHO", ""]]),
        (Array("*2\r\n$4\r\nECHO\r\n$7\r\n".utf8) + binary + [0x0D, 0x0A], [["ECHO", String(decoding: binary, as: UTF8.self)]]),
        (Array("PING\r\n".utf8), [["PING"]]),
        (Array("PING\n".utf8), [["PING"]]),
        (Array("  subscribe   a  b \r\n".utf8), [["subscribe", "a", "b"]]),
        (Array("echo \"a b\\n\\x41\" 'it\\'s'\r\n".utf8), [["echo", "a b\nA", "it's"]]),
        (Array("\r\n*0\r\n*-1\r\nPING\r\n".utf8), [["PING"]]),
        (Array("*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n".utf8), [["PING"], ["PING"], ["ECHO", "x"]]),
    ]

    @Test func parsesTheCorpus() {
        for (bytes, expected) in Self.corpus {
            let result = parseAll(bytes)
            #expect(result.error == nil)
            #expect(result.requests == expected, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
    }

    @Test func everySplitPointGivesTheSameRequests() {
        for (bytes, expected) in Self.corpus {
            for split in 0...bytes.count {
                var parser = RESPRequestParser()
                var buffer = ByteBuffer()
                var requests: [[String]] = []
                for chunk in [bytes[..<split], bytes[split...]] {
                    buffer.writeBytes(chunk)
                    while let request = try! parser.next(&buffer) {
                        requests.append(request.arguments.map { String(decoding: $0.readableBytesView, as: UTF8.self) })
                    }
                }
                #expect(requests == expected, "split at \(split) of \(String(decoding: bytes, as: UTF8.self).debugDescription)")
                #expect(buffer.readableBytes == 0)
            }
        }
    }

    @Test func byteAtATimeFeeding() {
        let bytes = Self.corpus.flatMap(\.bytes)
        var parser = RESPRequestParser()
        var buffer = ByteBuffer()
        var count = 0
        for byte in bytes {
            buffer.writeInteger(byte)
            while (try? parser.next(&buffer)).flatMap({ $0 }) != nil { count += 1 }
        }
        #expect(count == Self.corpus.map(\.expected.count).reduce(0, +))
    }

    @Test func largeRequestInManyReadsIsComplete() {
        let payload = [UInt8](repeating: 0x61, count: 1 << 20)
        var request = ByteBuffer()
        RESPRequest(arguments: [ByteBuffer(string: "PUBLISH"), ByteBuffer(string: "c"), ByteBuffer(bytes: payload)]).encode(into: &request)
        var parser = RESPRequestParser()
        var buffer = ByteBuffer()
        var parsed: RESPRequest?
        while request.readableBytes > 0 {
            buffer.writeImmutableBuffer(request.readSlice(length: min(65536, request.readableBytes))!)
            if let r = try! parser.next(&buffer) { parsed = r }
        }
        #expect(parsed?.arguments.count == 3)
        #expect(parsed?.arguments[2].readableBytes == payload.count)
    }

    @Test(arguments: [
        ("*1\r\n$-5\r\n", RESPProtocolError.invalidBulkLength),
        ("*1\r\n$abc\r\n", .invalidBulkLength),
        ("*2\r\nx\r\n", .expectedDollar(got: UInt8(ascii: "x"))),
        ("*99999999999\r\n", .invalidMultibulkLength),
        ("*x\r\n", .invalidMultibulkLength),
        ("*2\r\n$4294967296\r\n", .invalidBulkLength),
        ("ping \"a\r\n", .unbalancedQuotes),
        ("ping 'a'b\r\n", .unbalancedQuotes),
        ("*1\r\n$4\r\nPINGxx", .missingTerminator),
    ])
    func rejectsMalformedRequests(input: String, error: RESPProtocolError) {
        #expect(parseAll(Array(input.utf8)).error == error)
    }

    @Test func errorsUseRedisWording() {
        #expect(RESPProtocolError.invalidBulkLength.replyLine == "ERR Protocol error: invalid bulk length")
        #expect(RESPProtocolError.expectedDollar(got: UInt8(ascii: "x")).replyLine == "ERR Protocol error: expected '$', got 'x'")
    }

    @Test func limitsAreConfigurable() {
        let tight = RESPRequestParser.Configuration(maxBulkLength: 4, maxArrayLength: 2, maxInlineLength: 16)
        #expect(parseAll(Array("*1\r\n$5\r\nhello\r\n".utf8), configuration: tight).error == .invalidBulkLength)
        #expect(parseAll(Array("*3\r\n".utf8), configuration: tight).error == .invalidMultibulkLength)
        #expect(parseAll(Array(String(repeating: "a", count: 17).utf8), configuration: tight).error == .tooBigInlineRequest)
        #expect(parseAll(Array(("*" + String(repeating: "1", count: 17)).utf8), configuration: tight).error == .tooBigMultibulkCountLine)
        #expect(parseAll(Array(("*1\r\n$" + String(repeating: "1", count: 17)).utf8), configuration: tight).error == .tooBigBulkCountLine)
        #expect(parseAll(Array("*1\r\n$4\r\nPING\r\n".utf8), configuration: tight).requests == [["PING"]])
    }

    @Test func announcedSizeIsNotReserved() throws {
        // A 4 GB bulk under a limit that allows it is simply waited for: nothing is reserved up front.
        var parser = RESPRequestParser(configuration: .init(maxBulkLength: Int(UInt32.max) + 1))
        var buffer = ByteBuffer(string: "*2\r\n$4\r\nECHO\r\n$4294967296\r\nabc")
        let capacity = buffer.capacity
        #expect(try parser.next(&buffer) == nil)
        #expect(buffer.capacity == capacity)
    }

    /// Random and mutated inputs never crash or hang the parser: each call either returns,
    /// consumes bytes, or throws, so the loop below is bounded by the input length.
    @Test func fuzzedInputNeverCrashesOrHangs() {
        var rng = SplitMix64(state: 0x10_0C_0E)
        let seeds = Self.corpus.map(\.bytes)
        let alphabet: [UInt8] = Array("*$\r\n-0123456789 \"'\\xPINGpublish".utf8) + [0, 0xFF]
        var outcomes = (requests: 0, errors: 0)
        for _ in 0..<20_000 {
            var input: [UInt8]
            if Bool.random(using: &rng) {
                input = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !input.isEmpty {
                    let index = Int.random(in: 0..<input.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: input[index] = alphabet.randomElement(using: &rng)!
                    case 1: input.remove(at: index)
                    default: input.insert(alphabet.randomElement(using: &rng)!, at: index)
                    }
                }
            } else {
                input = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            }
            var parser = RESPRequestParser(configuration: .init(maxBulkLength: 1024, maxArrayLength: 64, maxInlineLength: 256))
            var buffer = ByteBuffer(bytes: input)
            var steps = 0
            loop: while buffer.readableBytes > 0 && steps <= input.count {
                steps += 1
                let before = buffer.readableBytes
                do {
                    if try parser.next(&buffer) != nil { outcomes.requests += 1 } else if buffer.readableBytes == before { break loop }
                } catch {
                    outcomes.errors += 1
                    break loop
                }
            }
            #expect(steps <= input.count + 1)
        }
        #expect(outcomes.requests > 1000)
        #expect(outcomes.errors > 1000)
    }
}
