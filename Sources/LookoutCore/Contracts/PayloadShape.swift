/// The shape of the JSON payloads seen on a channel without a contract: each field's path, the
/// JSON types it held, whether every object had it, the string formats every string matched,
/// and what arrays held — merged message by message, bounded in size, and written out as a
/// draft 2020-12 schema that accepts every message seen (`lookout contracts infer`). Pure.
public struct PayloadShape: Sendable, Hashable {
    /// Most nodes (fields and array items, at any depth) one channel's shape holds; a field
    /// beyond it is not described (its object accepts it as any other unknown field).
    public static let maxNodes = 256
    /// Deepest level described; below it anything is accepted.
    public static let maxDepth = 8

    /// One place in the payloads: what it held, and for objects and arrays what they held.
    public struct Node: Sendable, Hashable {
        /// JSON types seen: `null`, `boolean`, `integer`, `number`, `string`, `array`, `object`.
        public var types: Set<String> = []
        /// Times seen as an object (a field is required when it was in every one of them).
        public var objects = 0
        /// Fields of its objects, each with how many of those objects had it.
        public var fields: [String: Field] = [:]
        /// What its arrays held, all elements merged.
        public var items: [Node] = []
        /// Formats every string seen here matched (`date-time`, `uuid`, `email`); nil before any string.
        public var formats: Set<String>?
    }

    /// A field of an object node: its node, and in how many objects it was present.
    public struct Field: Sendable, Hashable {
        public var node: Node
        public var seen: Int
    }

    /// Payloads merged in a row that added nothing: the shape is settled from ``settleMessages``
    /// on, and a field or type that appears after that is a change.
    public private(set) var quietMessages = 0
    public static let settleMessages = 100
    public var settled: Bool { quietMessages >= Self.settleMessages }

    public private(set) var root = Node()
    /// Payloads merged.
    public private(set) var messages = 0
    /// Payloads that were not JSON (not merged).
    public private(set) var notJSON = 0
    private var nodes = 1

    public init() {}

    /// Merges one payload; returns the paths it added (a new field, or a new type at a known
    /// place: `/note`, `/total (string)`), empty when the shape already described it.
    @discardableResult
    public mutating func merge(_ payload: some Collection<UInt8>) -> [String] {
        guard let value = try? JSONValue.parse(payload) else {
            notJSON += 1
            return []
        }
        messages += 1
        var added: [String] = []
        var budget = Self.maxNodes - nodes
        Self.merge(value, into: &root, at: "", depth: 0, budget: &budget, added: &added, first: messages == 1)
        nodes = Self.maxNodes - budget
        if messages == 1 { added = [] }
        quietMessages = added.isEmpty ? quietMessages + 1 : 0
        return added
    }

    private static func merge(_ value: JSONValue, into node: inout Node, at path: String, depth: Int, budget: inout Int,
                              added: inout [String], first: Bool) {
        let type = typeName(value)
        // A new type where others were seen; an integer where numbers were (or the converse) is not new.
        let numeric: Set<String> = ["integer", "number"]
        if node.types.insert(type).inserted && node.types.count > 1
            && !(numeric.contains(type) && !node.types.subtracting([type]).isDisjoint(with: numeric)) {
            added.append("\(path.isEmpty ? "/" : path) (\(type))")
        }
        guard depth < maxDepth else { return }
        switch value {
        case .object(let members):
            node.objects += 1
            for (name, member) in members {
                let child = path + "/" + JSONValue.pointerToken(name)
                if var field = node.fields[name] {
                    field.seen += 1
                    merge(member, into: &field.node, at: child, depth: depth + 1, budget: &budget, added: &added, first: first)
                    node.fields[name] = field
                } else if budget > 0 {
                    budget -= 1
                    var field = Field(node: Node(), seen: 1)
                    merge(member, into: &field.node, at: child, depth: depth + 1, budget: &budget, added: &added, first: true)
                    node.fields[name] = field
                    if !first { added.append(child) }
                }
            }
        case .array(let elements):
            for element in elements {
                if node.items.isEmpty {
                    guard budget > 0 else { break }
                    budget -= 1
                    node.items = [Node()]
                }
                merge(element, into: &node.items[0], at: path + "/[]", depth: depth + 1, budget: &budget, added: &added, first: first)
            }
        case .string(let text):
            let matched = StringFormat.all.filter { $0.matches(text) }.map(\.name)
            node.formats = node.formats.map { $0.intersection(matched) } ?? Set(matched)
        default:
            break
        }
    }

    private static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .number(let number): number == number.rounded() && abs(number) < 9.007_199_254_740_992e15 ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    // MARK: stored form

    /// The shape as JSON, for the store: `{"messages", "not_json", "quiet", "root"}`.
    public var json: JSONValue {
        .object(["messages": .number(Double(messages)), "not_json": .number(Double(notJSON)), "quiet": .number(Double(quietMessages)),
                 "root": Self.json(root)])
    }

    /// A shape stored as ``json``; nil when it is not one.
    public init?(json: JSONValue) {
        guard case .number(let messages)? = json["messages"], case .number(let notJSON)? = json["not_json"], let root = json["root"],
              let node = Self.node(root, depth: 0) else { return nil }
        self.messages = Int(messages)
        self.notJSON = Int(notJSON)
        if case .number(let quiet)? = json["quiet"] { quietMessages = Int(quiet) }
        self.root = node
        self.nodes = Self.count(node)
    }

    private static func json(_ node: Node) -> JSONValue {
        var members: [JSONObject.Member] = [("types", .array(node.types.sorted().map { .string($0) })), ("objects", .number(Double(node.objects)))]
        if !node.fields.isEmpty {
            members.append(("fields", .object(JSONObject(uniquing: node.fields.keys.sorted().map { name in
                (name, .object(["seen": .number(Double(node.fields[name]!.seen)), "node": json(node.fields[name]!.node)]))
            }))))
        }
        if let items = node.items.first { members.append(("items", json(items))) }
        if let formats = node.formats { members.append(("formats", .array(formats.sorted().map { .string($0) }))) }
        return .object(JSONObject(uniquing: members))
    }

    private static func node(_ value: JSONValue, depth: Int) -> Node? {
        guard depth <= maxDepth, case .array(let types)? = value["types"], case .number(let objects)? = value["objects"] else { return nil }
        var node = Node()
        node.types = Set(types.compactMap(\.stringValue))
        node.objects = Int(objects)
        if case .object(let fields)? = value["fields"] {
            for (name, field) in fields {
                guard case .number(let seen)? = field["seen"], let child = field["node"].flatMap({ Self.node($0, depth: depth + 1) }) else { return nil }
                node.fields[name] = Field(node: child, seen: Int(seen))
            }
        }
        if let items = value["items"] {
            guard let child = Self.node(items, depth: depth + 1) else { return nil }
            node.items = [child]
        }
        if case .array(let formats)? = value["formats"] { node.formats = Set(formats.compactMap(\.stringValue)) }
        return node
    }

    private static func count(_ node: Node) -> Int {
        1 + node.fields.values.reduce(0) { $0 + count($1.node) } + node.items.reduce(0) { $0 + count($1) }
    }

    // MARK: schema

    /// A draft 2020-12 schema accepting every payload merged (and more: fields not seen are
    /// allowed, an integer seen beside a number is a number).
    public func schema(title: String) -> JSONValue {
        var members = [JSONObject.Member]()
        members.append(("$schema", .string("https://json-schema.org/draft/2020-12/schema")))
        members.append(("title", .string(title)))
        guard case .object(let body) = Self.schema(root) else { return .object(JSONObject(uniquing: members)) }
        return .object(JSONObject(uniquing: members + body.map { $0 }))
    }

    private static func schema(_ node: Node) -> JSONValue {
        var types = node.types
        if types.contains("number") { types.remove("integer") }
        var members = [JSONObject.Member]()
        let sorted = types.sorted()
        if !sorted.isEmpty { members.append(("type", sorted.count == 1 ? .string(sorted[0]) : .array(sorted.map { .string($0) }))) }
        if let format = node.formats?.sorted().first, types == ["string"] { members.append(("format", .string(format))) }
        if node.objects > 0 && !node.fields.isEmpty {
            let names = node.fields.keys.sorted()
            members.append(("properties", .object(JSONObject(uniquing: names.map { ($0, schema(node.fields[$0]!.node)) }))))
            let required = names.filter { node.fields[$0]!.seen == node.objects }
            if !required.isEmpty { members.append(("required", .array(required.map { .string($0) }))) }
        }
        if let items = node.items.first { members.append(("items", schema(items))) }
        return .object(JSONObject(uniquing: members))
    }
}

/// The string formats inference notes: each a cheap check, not a full validator.
private struct StringFormat: Sendable {
    let name: String
    let matches: @Sendable (String) -> Bool

    static let all = [
        StringFormat(name: "date-time") { text in
            let bytes = Array(text.utf8)
            return bytes.count >= 20 && bytes.count <= 40 && bytes[4] == 0x2D && bytes[7] == 0x2D && (bytes[10] == 0x54 || bytes[10] == 0x74)
                && bytes[13] == 0x3A && bytes[16] == 0x3A && bytes[0..<4].allSatisfy { (0x30...0x39).contains($0) }
        },
        StringFormat(name: "uuid") { text in
            let bytes = Array(text.utf8)
            return bytes.count == 36 && [8, 13, 18, 23].allSatisfy { bytes[$0] == 0x2D }
                && bytes.enumerated().allSatisfy { index, byte in [8, 13, 18, 23].contains(index) || isHex(byte) }
        },
        StringFormat(name: "email") { text in
            let parts = text.split(separator: "@", omittingEmptySubsequences: false)
            return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !text.contains(" ") && text.utf8.count <= 254
        },
    ]

    private static func isHex(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) || (0x41...0x46).contains(byte)
    }
}
