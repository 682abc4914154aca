import Glob

/// One `contracts:` entry: the channels it covers, the envelope format, the JSON Schema for each
/// event type, and which integrity checks run (per-source sequence, duplicates).
public struct EventContract: Sendable {
    /// How events are wrapped.
    public enum Format: String, Sendable, CaseIterable {
        /// CloudEvents 1.0, JSON structured mode: `specversion`, `id`, `source`, `type`
        /// required; the payload is `data`; the sequence is the `sequence` extension.
        case cloudevents
        /// Plain JSON objects; ``Fields`` names the members that play each role.
        case json
    }

    /// The members that carry the event's identity (for `json`; CloudEvents names its own).
    public struct Fields: Sendable, Hashable {
        public var id: String?
        public var source: String?
        public var sequence: String?
        public var type: String?
        public var version: String?

        public init(id: String? = nil, source: String? = nil, sequence: String? = nil, type: String? = nil, version: String? = nil) {
            self.id = id
            self.source = source
            self.sequence = sequence
            self.type = type
            self.version = version
        }

        /// CloudEvents' attribute names (`version` is not one of its attributes: none).
        public static let cloudEvents = Fields(id: "id", source: "source", sequence: "sequence", type: "type")
    }

    /// Redis glob of the channels covered.
    public var channels: String
    public var format: Format
    public var fields: Fields
    /// Schemas by event type, or by `type@version` for one version of a type.
    public var schemas: [String: JSONSchema]
    /// Whether an event whose type has no schema is a violation (`unknown_type`).
    public var requireSchema: Bool
    /// Whether each source's events carry a sequence to check for gaps and reordering.
    public var checksSequence: Bool
    /// Seconds within which the same (source, id) again is a duplicate; nil: not checked.
    public var duplicateWindow: Double?
    /// The schema for an event whose type names no schema of ``schemas`` (or that has no type),
    /// when ``requireSchema`` is off: an AsyncAPI channel's messages, any one of them. Nil: such
    /// an event is not checked.
    public var anyMessageSchema: JSONSchema?
    /// Where the contract was declared: `contracts[0]`, or an AsyncAPI document and channel.
    public var origin = ""

    public init(channels: String, format: Format, fields: Fields? = nil, schemas: [String: JSONSchema] = [:], requireSchema: Bool = false,
                checksSequence: Bool = false, duplicateWindow: Double? = nil) {
        self.channels = channels
        self.format = format
        self.fields = fields ?? (format == .cloudevents ? .cloudEvents : Fields())
        self.schemas = schemas
        self.requireSchema = requireSchema
        self.checksSequence = checksSequence
        self.duplicateWindow = duplicateWindow
    }

    /// The first check that needs a field ``fields`` does not name — `require-schema` (the
    /// type), `sequence` or `duplicates` (the id) — with that field, or nil.
    public var unmetNeed: (check: String, field: String)? {
        if requireSchema && fields.type == nil { return ("require-schema", "type") }
        if checksSequence && fields.sequence == nil { return ("sequence", "sequence") }
        if duplicateWindow != nil && fields.id == nil { return ("duplicates", "id") }
        return nil
    }
}

/// Why a message breaks its channel's contract: the `reason` label of
/// `lookout_channel_invalid_messages_total`.
public enum ContractViolationReason: String, Sendable, Hashable, CaseIterable {
    /// Not a JSON object, not UTF-8, or nested deeper than the parser's limit.
    case notJSON = "not_json"
    /// Larger than the contract's size limit: not parsed.
    case tooLarge = "too_large"
    /// An envelope attribute the format requires is absent.
    case missingAttribute = "missing_attribute"
    /// An envelope attribute of the wrong JSON type or value (a numeric id, specversion 0.3).
    case wrongType = "wrong_type"
    /// The payload fails its type's JSON Schema.
    case schemaViolation = "schema_violation"
    /// No schema for the event's type (with `require_schema`).
    case unknownType = "unknown_type"
}

/// What a message on a contracted channel turned out to be.
public enum ContractVerdict: Sendable, Hashable {
    case accepted(EventIdentity)
    case violated(ContractViolation)
}

/// The identity of an accepted event: what the sequence and duplicate checks key on.
public struct EventIdentity: Sendable, Hashable {
    public var source: String?
    public var id: String?
    public var sequence: UInt64?
    public var type: String?
    public var version: String?

    public init(source: String? = nil, id: String? = nil, sequence: UInt64? = nil, type: String? = nil, version: String? = nil) {
        self.source = source
        self.id = id
        self.sequence = sequence
        self.type = type
        self.version = version
    }
}

/// A broken contract: why, where (a JSON pointer into the message), and what is known of the
/// event's identity.
public struct ContractViolation: Error, Sendable, Hashable {
    public var reason: ContractViolationReason
    /// The JSON pointer of the failing place in the message (`/data/amount`), or "" for the whole.
    public var pointer: String
    public var message: String
    public var identity: EventIdentity

    public init(reason: ContractViolationReason, pointer: String = "", message: String, identity: EventIdentity = .init()) {
        self.reason = reason
        self.pointer = pointer
        self.message = message
        self.identity = identity
    }
}

extension EventContract {
    /// Largest payload parsed (1 MiB); a larger one is a `too_large` violation.
    public static let maxPayloadBytes = 1 << 20

    /// Judges one message: parses it, checks the envelope, then the payload against its type's
    /// schema. Pure.
    public func judge(_ payload: some Collection<UInt8>) -> ContractVerdict {
        guard payload.count <= Self.maxPayloadBytes else {
            return .violated(.init(reason: .tooLarge, message: "\(payload.count) bytes, more than \(Self.maxPayloadBytes)"))
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(payload)
        } catch .tooDeep {
            return .violated(.init(reason: .notJSON, message: "nested deeper than 64 levels"))
        } catch {
            return .violated(.init(reason: .notJSON, message: "not JSON (or not UTF-8)"))
        }
        guard case .object(let members) = document else {
            return .violated(.init(reason: .notJSON, message: "a JSON \(document.typeName), not an object"))
        }

        var identity = EventIdentity()
        func text(_ role: String, _ name: String?, required: Bool) -> Result<String?, ContractViolation> {
            guard let name else { return .success(nil) }
            guard let value = members[name] else {
                return required ? .failure(.init(reason: .missingAttribute, pointer: "/" + name, message: "'\(name)' is missing", identity: identity))
                                : .success(nil)
            }
            switch value {
            case .string(let string) where !string.isEmpty: return .success(string)
            case .number(let number) where format == .json && number.isFinite && number == number.rounded():
                return .success(String(Int64(exactly: number).map(String.init) ?? "\(number)"))
            default:
                return .failure(.init(reason: .wrongType, pointer: "/" + name, message: "'\(name)' must be a non-empty string", identity: identity))
            }
        }
        let required = format == .cloudevents
        if format == .cloudevents {
            guard let version = members["specversion"] else {
                return .violated(.init(reason: .missingAttribute, pointer: "/specversion", message: "'specversion' is missing"))
            }
            guard version == .string("1.0") else {
                return .violated(.init(reason: .wrongType, pointer: "/specversion", message: "specversion must be \"1.0\""))
            }
        }
        do {
            identity.id = try text("id", fields.id, required: required).get()
            identity.source = try text("source", fields.source, required: required).get()
            identity.type = try text("type", fields.type, required: required).get()
            identity.version = try text("version", fields.version, required: false).get()
        } catch {
            return .violated(error)
        }
        if let name = fields.sequence, let value = members[name] {
            guard let sequence = Self.sequence(value) else {
                return .violated(.init(reason: .wrongType, pointer: "/" + name,
                                       message: "'\(name)' must be a non-negative integer or a decimal string", identity: identity))
            }
            identity.sequence = sequence
        } else if checksSequence, let name = fields.sequence {
            return .violated(.init(reason: .missingAttribute, pointer: "/" + name, message: "'\(name)' is missing", identity: identity))
        }

        let typed = identity.type.flatMap { type in identity.version.flatMap { schemas["\(type)@\($0)"] } ?? schemas[type] }
        guard let schema = typed ?? (requireSchema ? nil : anyMessageSchema) else {
            if requireSchema {
                return .violated(.init(reason: .unknownType, pointer: fields.type.map { "/" + $0 } ?? "",
                                       message: "no schema for type '\(identity.type ?? "(none)")'", identity: identity))
            }
            return .accepted(identity)
        }
        let body: JSONValue
        let bodyPointer: String
        if format == .cloudevents {
            if members["data_base64"] != nil {
                return .violated(.init(reason: .schemaViolation, pointer: "/data_base64",
                                       message: "binary data (data_base64) cannot be checked against a JSON Schema", identity: identity))
            }
            body = members["data"] ?? .null
            bodyPointer = "/data"
        } else {
            body = document
            bodyPointer = ""
        }
        if let failure = schema.validate(body) {
            return .violated(.init(reason: .schemaViolation, pointer: bodyPointer + failure.instancePointer,
                                   message: "\(failure.message) (\(failure.schemaPointer))", identity: identity))
        }
        return .accepted(identity)
    }

    /// A sequence number: a non-negative integer, or a string of decimal digits (CloudEvents'
    /// `sequence` extension is a string).
    static func sequence(_ value: JSONValue) -> UInt64? {
        switch value {
        case .number(let number) where number >= 0 && number == number.rounded() && number < 9.007_199_254_740_992e15: UInt64(number)
        case .string(let text) where !text.isEmpty && text.utf8.count <= 20 && text.utf8.allSatisfy({ (0x30...0x39).contains($0) }): UInt64(text)
        default: nil
        }
    }
}

/// The configured contracts, looked up by channel: the first whose glob matches.
public struct ContractSet: Sendable {
    public let contracts: [EventContract]
    /// Each contract's glob as bytes, made once (a lookup runs for every message of a source).
    private let globs: [[UInt8]]

    public init(_ contracts: [EventContract]) {
        self.contracts = contracts
        self.globs = contracts.map { Array($0.channels.utf8) }
    }

    public var isEmpty: Bool { contracts.isEmpty }

    /// The index of the contract covering `channel`, or nil when none does (never judged).
    public func contractIndex(for channel: some Collection<UInt8>) -> Int? {
        globs.firstIndex { GlobPattern.matches(pattern: $0, subject: channel) }
    }

    /// The first pair of entries whose globs can match the same channel, or nil.
    public static func firstOverlap(_ globs: [String]) -> (Int, Int)? {
        for second in globs.indices {
            for first in 0..<second where GlobPattern.overlaps(globs[first], globs[second]) { return (first, second) }
        }
        return nil
    }
}
