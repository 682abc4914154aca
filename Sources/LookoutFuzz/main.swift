// libFuzzer over Lookout's parsers of untrusted input. Built only by `make fuzz` (LOOKOUT_FUZZ=1,
// `-sanitize=fuzzer,address`). One binary, the target chosen by LOOKOUT_FUZZ_TARGET. Each target checks a property, not
// only the absence of a crash.
#if canImport(Glibc)
import Glibc
#endif
import CFuzzSupport
import Glob
import LookoutConfiguration
import LookoutCore
import NIOCore
import RESP

/// The parsers under test, by the name LOOKOUT_FUZZ_TARGET gives.
enum FuzzTarget: String, CaseIterable {
    case respRequest = "resp-request"
    case respReply = "resp-reply"
    case heartbeat
    case config
    case redisURL = "redis-url"
    case eventContract = "event-contract"
    case asyncAPI = "asyncapi"
    case payloadShape = "payload-shape"

    /// Runs one input; traps (a finding) when a property fails.
    func run(_ bytes: [UInt8]) {
        switch self {
        case .respRequest: Self.requests(bytes)
        case .respReply: Self.replies(bytes)
        case .heartbeat: Self.heartbeat(bytes)
        case .config: _ = try? ServeConfiguration.parse(yaml: String(decoding: bytes, as: UTF8.self))
        case .redisURL: Self.redisURL(bytes)
        case .eventContract: Self.eventContract(bytes)
        case .asyncAPI: Self.asyncAPI(bytes)
        case .payloadShape: Self.payloadShape(bytes)
        }
    }

    /// Feeds `input` to a parser `chunk` bytes at a time: the values it returned, and the
    /// error that stopped it, if any.
    static func feed<Value>(_ input: [UInt8], chunk: Int, _ next: (inout ByteBuffer) throws(RESPProtocolError) -> Value?)
        -> ([Value], RESPProtocolError?)
    {
        var buffer = ByteBuffer()
        var values: [Value] = []
        var offset = 0
        while offset < input.count {
            buffer.writeBytes(input[offset..<min(offset + chunk, input.count)])
            offset += chunk
            do {
                while let value = try next(&buffer) { values.append(value) }
            } catch {
                return (values, error)
            }
        }
        return (values, nil)
    }

    /// The request parser gives the same requests and the same first error whether the bytes
    /// arrive at once (its one-pass fast path) or one at a time (its incremental path).
    static func requests(_ bytes: [UInt8]) {
        let limits = RESPRequestParser.Configuration(maxBulkLength: 64 * 1024, maxArrayLength: 1024, maxInlineLength: 4096)
        func parse(chunk: Int) -> ([RESPRequest], RESPProtocolError?) {
            var parser = RESPRequestParser(configuration: limits)
            return feed(bytes, chunk: chunk) { (buffer) throws(RESPProtocolError) in try parser.next(&buffer) }
        }
        let whole = parse(chunk: max(1, bytes.count))
        let split = parse(chunk: 1)
        precondition(whole.0 == split.0, "requests differ between one read and byte-at-a-time reads")
        precondition(whole.1 == split.1, "errors differ: \(String(describing: whole.1)) vs \(String(describing: split.1))")
    }

    /// The reply parser gives the same values whole or byte at a time, and what it parsed
    /// encodes back to bytes it parses to the same values.
    static func replies(_ bytes: [UInt8]) {
        let parser = RESPValueParser(maxDepth: 32, maxLength: 64 * 1024)
        let next = { (buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPValue? in try parser.next(&buffer) }
        let whole = feed(bytes, chunk: max(1, bytes.count), next)
        let split = feed(bytes, chunk: 1, next)
        precondition(whole.0 == split.0 && (whole.1 == nil) == (split.1 == nil), "values differ between one read and byte-at-a-time reads")
        for value in whole.0 {
            for version in [RESPVersion.resp2, .resp3] {
                let encoded = Array(value.encoded(version: version).readableBytesView)
                let again = feed(encoded, chunk: encoded.count, next)
                precondition(again.1 == nil && again.0.count == 1, "an encoded value does not parse back")
            }
        }
    }

    /// A heartbeat is accepted or rejected with a reason; an accepted one has a bounded name.
    static func heartbeat(_ bytes: [UInt8]) {
        if case .success(let heartbeat) = Heartbeat.parse(bytes) {
            precondition(!heartbeat.consumer.isEmpty && heartbeat.consumer.count <= Heartbeat.maxNameLength)
            precondition(bytes.count <= Heartbeat.maxBytes)
        }
    }

    /// A contract with a schema that uses every asserted keyword family.
    static let contract: EventContract = {
        let schema = try! JSONSchema(try! JSONValue.parse(Array(#"""
            {"type": "object", "required": ["amount"], "additionalProperties": {"type": ["string", "number", "null"]},
             "properties": {"amount": {"type": "number", "minimum": 0, "exclusiveMaximum": 1e9},
                            "currency": {"enum": ["EUR", "USD"]}, "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$", "maxLength": 40},
                            "lines": {"type": "array", "prefixItems": [{"const": "head"}], "items": {"$ref": "#/$defs/line"}, "maxItems": 50},
                            "flag": {"oneOf": [{"type": "boolean"}, {"type": "integer", "minimum": 1}]},
                            "note": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}], "not": {"const": "forbidden"}}},
             "$defs": {"line": {"allOf": [{"type": "object"}, {"required": ["sku"]}], "properties": {"sku": {"type": "string"}}}}}
            """#.utf8)))
        return EventContract(channels: "*", format: .cloudevents, schemas: ["t": schema], requireSchema: true, checksSequence: false)
    }()

    /// Any bytes get a verdict, the same one twice; `not_json` exactly when the parser refuses
    /// them (or they are too large); an accepted event carries the envelope's id and type.
    static func eventContract(_ bytes: [UInt8]) {
        let verdict = contract.judge(bytes)
        precondition(verdict == contract.judge(bytes), "the same bytes, another verdict")
        let parsed = try? JSONValue.parse(bytes)
        if case .violated(let violation) = verdict, violation.reason == .notJSON {
            if case .object? = parsed { preconditionFailure("a parsed object reported as not JSON") }
        } else if bytes.count <= EventContract.maxPayloadBytes {
            guard case .object(let members)? = parsed else { preconditionFailure("judged beyond not_json, yet not a parsed object") }
            if case .accepted(let identity) = verdict {
                precondition(members["id"] == .string(identity.id ?? "") && members["type"] == .string("t"), "identity from the envelope")
            }
        }
    }

    /// An AsyncAPI document (YAML or JSON; a `$ref` to another file leads to an empty one) is
    /// read or refused with a problem; one read compares with itself as unchanged.
    static func asyncAPI(_ bytes: [UInt8]) {
        guard let root = try? YAMLDocument.read(String(decoding: bytes, as: UTF8.self)),
              let document = try? AsyncAPIDocument(file: "/fuzz/asyncapi.yaml", root: root, load: { _ in .object([:]) }) else { return }
        for channel in document.channels {
            precondition(GlobPattern.problem(in: channel.contract.channels) == nil, "a glob from '\(channel.address)'")
        }
        guard let same = try? SchemaDiff(old: document, new: document) else { preconditionFailure("a document read cannot be compared") }
        precondition(same.changes.isEmpty, "a document differs from itself: \(same.changes)")
    }

    /// The schema inferred from a payload accepts it, and a stored shape reads back the same.
    static func payloadShape(_ bytes: [UInt8]) {
        var shape = PayloadShape()
        shape.merge(bytes)
        shape.merge(bytes)
        guard let value = try? JSONValue.parse(bytes) else { return precondition(shape.notJSON == 2) }
        guard let schema = try? JSONSchema(shape.schema(title: "fuzz")) else { preconditionFailure("an inferred schema does not compile") }
        precondition(schema.accepts(value), "the inferred schema refuses its own payload")
        guard let stored = PayloadShape(json: shape.json) else { preconditionFailure("a stored shape does not read back") }
        precondition(stored.root == shape.root, "a stored shape reads back different")
    }

    /// A URL that parses names the same nodes once printed and parsed again.
    static func redisURL(_ bytes: [UInt8]) {
        guard let url = RedisURL(String(decoding: bytes, as: UTF8.self)) else { return }
        precondition(!url.seeds.isEmpty)
        guard let again = RedisURL(url.description) else { preconditionFailure("'\(url)' does not parse back") }
        precondition(again.seeds == url.seeds, "'\(url)' parses back to other nodes")
    }
}

// The target named by LOOKOUT_FUZZ_TARGET, then libFuzzer's loop with the program's arguments.
guard let target = FuzzTarget(rawValue: getenv("LOOKOUT_FUZZ_TARGET").map { String(cString: $0) } ?? "") else {
    print("LOOKOUT_FUZZ_TARGET must be one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    exit(2)
}
let selected = target
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    selected.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
})
