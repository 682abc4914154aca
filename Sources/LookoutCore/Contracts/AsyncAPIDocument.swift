import Glob

/// An AsyncAPI 3.0 or 2.6 document read as event contracts, one per channel: its address as a
/// Redis glob (`orders.{region}.created` → `orders.*.created`), its messages' payload schemas
/// (AsyncAPI's schema format translated by ``AsyncAPISchemaTranslator``), and `x-lookout-*`
/// extensions, on a channel or at the top for every channel, for what AsyncAPI has no word for.
/// Pure: the files its `$ref`s name are read through `load`.
public struct AsyncAPIDocument: Sendable {
    /// Why a document cannot be used: the file, the JSON pointer of the place, and what is wrong.
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        public var file: String
        public var pointer: String
        public var reason: String

        public init(file: String, pointer: String, reason: String) {
            self.file = file
            self.pointer = pointer
            self.reason = reason
        }

        public var description: String { "\(file) at '#\(pointer)': \(reason)" }
    }

    /// One message of a channel: the names an event's type may give it (its id and `name`),
    /// where it is declared, and its payload schema as a self-contained 2020-12 document.
    public struct Message: Sendable {
        public var names: [String]
        public var pointer: String
        public var schema: JSONValue
    }

    /// One channel: its id (3.0) or address (2.6), address, place, messages and the contract
    /// Lookout checks on the channels its glob matches.
    public struct Channel: Sendable {
        public var id: String
        public var address: String
        public var messages: [Message]
        public var contract: EventContract
    }

    /// The `x-lookout-*` extensions.
    public static let extensions: Set<String> = [
        "x-lookout-format", "x-lookout-fields", "x-lookout-require-schema", "x-lookout-sequence", "x-lookout-duplicates",
    ]

    public let file: String
    public let version: String
    public let channels: [Channel]

    /// Reads the document `root` (the contents of `file`).
    /// - Throws: ``Problem``: not AsyncAPI 3.x or 2.x, a channel with no address, a `$ref` that
    ///   leads nowhere or loops, a payload schema the validator cannot check, an unknown or
    ///   ill-typed `x-lookout-*` extension.
    public init(file: String, root: JSONValue, load: @escaping (String) throws(Problem) -> JSONValue) throws(Problem) {
        typealias Place = AsyncAPISchemaTranslator.Place
        let top = Place(file: file, pointer: "")
        guard case .object = root, case .string(let version)? = root["asyncapi"] else {
            throw top.problem("not an AsyncAPI document: it has no 'asyncapi' version at the top")
        }
        let isVersion3 = version.hasPrefix("3.")
        guard isVersion3 || version.hasPrefix("2.") else { throw top.child("asyncapi").problem("AsyncAPI \(version) is not read: 3.0 or 2.6") }
        guard case .object(let declared)? = root["channels"], declared.count > 0 else {
            throw top.child("channels").problem("the document declares no channels: nothing to check")
        }
        let defaults = try Extensions(root, at: top)
        var documents = AsyncAPIDocuments(file: file, root: root, load: load)
        var channels: [Channel] = []
        for (id, declaration) in declared.sorted(by: { $0.key < $1.key }) {
            let (channel, place) = try documents.follow(declaration, at: top.child("channels").child(id))
            guard case .object = channel else { throw place.problem("a channel must be an object") }
            let address = isVersion3 ? channel["address"]?.stringValue ?? "" : id
            guard !isVersion3 || !address.isEmpty else {
                throw place.child("address").problem("the channel has no address: Lookout needs one to know which channels it covers")
            }
            let messages = try Self.messages(of: channel, at: place, isVersion3: isVersion3, documents: &documents)
            let glob = try Self.glob(address: address, at: isVersion3 ? place.child("address") : place)
            let settings = try Extensions(channel, at: place).over(defaults)
            let contentTypes = messages.map { $0.value["contentType"] ?? root["defaultContentType"] }
            let cloudEvents = !messages.isEmpty && contentTypes.allSatisfy { $0 == .string("application/cloudevents+json") }
            var contract = EventContract(channels: glob, format: settings.format ?? (cloudEvents ? .cloudevents : .json))
            contract.origin = place.text
            try settings.configure(&contract, at: place)

            var translator = AsyncAPISchemaTranslator(documents: documents)
            var slots: [String?] = []
            for message in messages {
                let (payload, payloadPlace) = try Self.payload(of: message.value, at: message.place, isVersion3: isVersion3)
                slots.append(payload.map { translator.slot(for: $0, at: payloadPlace) })
            }
            let definitions = try translator.definitionsObject()
            documents = translator.loadedDocuments
            func document(_ body: JSONValue) -> JSONValue {
                guard case .object(let members) = body else { return body }
                return .object(JSONObject(uniquing: members.map { $0 } + [(key: "$defs", value: definitions)]))
            }
            func compile(_ schema: JSONValue) throws(Problem) -> JSONSchema {
                do {
                    return try JSONSchema(schema)
                } catch {
                    throw Self.placeOf(error, origins: translator.origins, otherwise: place).problem(error.reason)
                }
            }
            let references = slots.map { slot in slot.map { JSONValue.object(["$ref": .string("#/$defs/" + $0)]) } ?? .bool(true) }
            var channelMessages: [Message] = []
            for (index, message) in messages.enumerated() {
                let schema = document(references[index])
                let compiled = try compile(schema)
                for name in message.names {
                    guard contract.schemas[name] == nil else {
                        throw message.place.problem("two messages of channel '\(id)' are named '\(name)': an event's type could not tell them apart")
                    }
                    contract.schemas[name] = compiled
                }
                channelMessages.append(Message(names: message.names, pointer: message.place.pointer, schema: schema))
            }
            if references.count == 1 {
                if let only = contract.schemas.values.first { contract.anyMessageSchema = only } else { contract.anyMessageSchema = try compile(references[0]) }
            } else if references.count > 1 {
                contract.anyMessageSchema = try compile(document(.object(["anyOf": .array(references)])))
            }
            channels.append(Channel(id: id, address: address, messages: channelMessages, contract: contract))
        }
        // One contract per channel: two channels whose globs can match the same channel cannot both be.
        if let (first, second) = ContractSet.firstOverlap(channels.map(\.contract.channels)) {
            throw top.child("channels").child(channels[second].id).problem(
                "'\(channels[second].address)' and channel '\(channels[first].id)' ('\(channels[first].address)') can match the same channel")
        }
        self.file = file
        self.version = version
        self.channels = channels
    }

    /// A declared message: the names an event's type may give it, the message object, its place.
    private typealias DeclaredMessage = (names: [String], value: JSONValue, place: AsyncAPISchemaTranslator.Place)

    /// A channel's messages: 3.0's `messages` (named by their key, then `name`); 2.6's
    /// `subscribe`/`publish` `message` or its `oneOf` (named by `messageId`, then `name`), a
    /// message both operations name counted once.
    private static func messages(of channel: JSONValue, at place: AsyncAPISchemaTranslator.Place, isVersion3: Bool,
                                 documents: inout AsyncAPIDocuments) throws(Problem) -> [DeclaredMessage] {
        var messages: [DeclaredMessage] = []
        if isVersion3 {
            guard case .object(let declared)? = channel["messages"] else { return [] }
            for (name, message) in declared {
                let (value, at) = try documents.follow(message, at: place.child("messages").child(name))
                messages.append(([name] + Self.name(of: value).filter { $0 != name }, value, at))
            }
            return messages
        }
        for operation in ["subscribe", "publish"] {
            guard let declared = channel[operation]?["message"] else { continue }
            let (value, at) = try documents.follow(declared, at: place.child(operation).child("message"))
            var alternatives = [(value, at)]
            if case .array(let oneOf)? = value["oneOf"] { alternatives = oneOf.indices.map { (oneOf[$0], at.child("oneOf").child(String($0))) } }
            for (alternative, alternativePlace) in alternatives {
                let (message, messageAt) = try documents.follow(alternative, at: alternativePlace)
                guard !messages.contains(where: { $0.place == messageAt }) else { continue }
                var names: [String] = []
                if case .string(let messageId)? = message["messageId"] { names.append(messageId) }
                names += Self.name(of: message).filter { !names.contains($0) }
                messages.append((names, message, messageAt))
            }
        }
        return messages
    }

    /// A message's `name`, when it has one.
    private static func name(of message: JSONValue) -> [String] {
        if case .string(let name)? = message["name"], !name.isEmpty { return [name] }
        return []
    }

    /// A message's payload schema and its place, or nil when it declares none (anything goes).
    /// AsyncAPI's own schema format and JSON Schema draft-07 are read; Avro, Protobuf or RAML are not.
    private static func payload(of message: JSONValue, at place: AsyncAPISchemaTranslator.Place, isVersion3: Bool) throws(Problem)
        -> (JSONValue?, AsyncAPISchemaTranslator.Place)
    {
        guard let payload = message["payload"] else { return (nil, place) }
        var schema = payload
        var schemaPlace = place.child("payload")
        var format = message["schemaFormat"]
        var formatPlace = place.child("schemaFormat")
        if isVersion3, let multiFormat = payload["schemaFormat"] {
            format = multiFormat
            formatPlace = schemaPlace.child("schemaFormat")
            guard let inner = payload["schema"] else { throw schemaPlace.child("schema").problem("missing: the schema of this schema format") }
            schema = inner
            schemaPlace = schemaPlace.child("schema")
        }
        if let format {
            guard case .string(let name) = format, name.hasPrefix("application/vnd.aai.asyncapi")
                || name.hasPrefix("application/schema+json;version=draft-07") || name.hasPrefix("application/schema+yaml;version=draft-07")
            else {
                throw formatPlace.problem("schema format \(format.text) is not read: AsyncAPI's own or JSON Schema draft-07 only")
            }
        }
        return (schema, schemaPlace)
    }

    /// A compile error's place in the documents: `/$defs/s3/…` is inside the schema `s3` came from.
    private static func placeOf(_ error: JSONSchema.CompileError, origins: [String: AsyncAPISchemaTranslator.Place],
                                otherwise: AsyncAPISchemaTranslator.Place) -> AsyncAPISchemaTranslator.Place {
        let tokens = error.pointer.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard tokens.count >= 3, tokens[1] == "$defs", var origin = origins[String(tokens[2])] else { return otherwise }
        if tokens.count == 4 { origin.pointer += "/" + tokens[3] }
        return origin
    }

    /// The glob of an address: `{parameter}` matches anything, the rest only itself.
    static func glob(address: String, at place: AsyncAPISchemaTranslator.Place) throws(Problem) -> String {
        guard !address.isEmpty else { throw place.problem("an empty address names no channel") }
        var glob = ""
        var literal = ""
        var inParameter = false
        for character in address {
            switch (character, inParameter) {
            case ("{", false):
                glob += GlobPattern.escaped(literal)
                literal = ""
                inParameter = true
            case ("}", true):
                glob += "*"
                inParameter = false
            case (_, false): literal.append(character)
            case (_, true): continue
            }
        }
        guard !inParameter else { throw place.problem("'\(address)': a parameter's '{' is never closed") }
        return glob + GlobPattern.escaped(literal)
    }
}

/// The `x-lookout-*` extensions of a channel or of the whole document.
private struct Extensions {
    var format: EventContract.Format?
    var fields: [(name: String, value: String)] = []
    var requireSchema: Bool?
    var sequence: Bool?
    var duplicates: Double?

    init(_ object: JSONValue, at place: AsyncAPISchemaTranslator.Place) throws(AsyncAPIDocument.Problem) {
        guard case .object(let members) = object else { return }
        for (key, value) in members where key.hasPrefix("x-lookout-") {
            let here = place.child(key)
            switch (key, value) {
            case ("x-lookout-format", .string(let name)):
                guard let format = EventContract.Format(rawValue: name) else { throw here.problem("'\(name)' is not a format: cloudevents or json") }
                self.format = format
            case ("x-lookout-fields", .object(let given)):
                for (name, field) in given {
                    guard ["id", "source", "sequence", "type", "version"].contains(name), case .string(let member) = field, !member.isEmpty else {
                        throw here.child(name).problem("fields are id, source, sequence, type and version, each a member name")
                    }
                    fields.append((name, member))
                }
            case ("x-lookout-require-schema", .bool(let flag)): requireSchema = flag
            case ("x-lookout-sequence", .bool(let flag)): sequence = flag
            case ("x-lookout-duplicates", .string(let text)):
                guard let seconds = DurationText.seconds(text), seconds >= 1, seconds <= 86_400 else {
                    throw here.problem("'\(text)' is not a duration between 1s and 24h")
                }
                duplicates = seconds
            case _ where AsyncAPIDocument.extensions.contains(key):
                throw here.problem("a JSON \(value.typeName) is not what \(key) takes")
            default:
                throw here.problem("unknown extension (expected one of: \(AsyncAPIDocument.extensions.sorted().joined(separator: ", ")))")
            }
        }
    }

    /// These, with `defaults` for what they leave out.
    func over(_ defaults: Extensions) -> Extensions {
        var merged = self
        merged.format = format ?? defaults.format
        merged.fields = defaults.fields.filter { field in !fields.contains { $0.name == field.name } } + fields
        merged.requireSchema = requireSchema ?? defaults.requireSchema
        merged.sequence = sequence ?? defaults.sequence
        merged.duplicates = duplicates ?? defaults.duplicates
        return merged
    }

    /// Sets the contract's fields and checks, refusing a check whose field is not named.
    func configure(_ contract: inout EventContract, at place: AsyncAPISchemaTranslator.Place) throws(AsyncAPIDocument.Problem) {
        for (name, member) in fields {
            switch name {
            case "id": contract.fields.id = member
            case "source": contract.fields.source = member
            case "sequence": contract.fields.sequence = member
            case "type": contract.fields.type = member
            default: contract.fields.version = member
            }
        }
        contract.requireSchema = requireSchema ?? false
        contract.checksSequence = sequence ?? false
        contract.duplicateWindow = duplicates
        if let (check, field) = contract.unmetNeed {
            throw place.child("x-lookout-" + check).problem("needs the field that carries the event's \(field) (x-lookout-fields.\(field))")
        }
    }
}
