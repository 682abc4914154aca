import Foundation

/// What changed between two versions of a JSON Schema (the keywords ``JSONSchema`` supports),
/// and what each change does to the messages it accepts: whether a consumer built on the old
/// schema can now meet a message it does not expect (*breaks consumers*: something valid under
/// the new schema is invalid under the old), whether a publisher built on the old schema can now
/// send a message the new one rejects (*breaks publishers*), neither (*compatible*), or what
/// cannot be told keyword by keyword (*unknown*: two different `pattern`s, a changed `anyOf`…).
///
/// Pure: two schema documents in, a list of changes out. Local `$ref`s are followed into each
/// side's own document. A keyword is judged as if the rest of the schema accepted everything,
/// so a change can be reported as breaking although other keywords make it unreachable; it is
/// never reported compatible when it is not.
public struct SchemaDiff: Sendable {
    /// One keyword that differs, with what it does.
    public struct Change: Sendable, Hashable, CustomStringConvertible {
        /// The keyword's JSON pointer in the schemas (`/properties/total/type`).
        public var pointer: String
        /// What it was and what it is, in a few words.
        public var what: String
        /// Something valid under the new schema is invalid under the old one.
        public var breaksConsumers: Bool
        /// Something valid under the old schema is invalid under the new one.
        public var breaksPublishers: Bool
        /// Whether the change could not be judged.
        public var unknown: Bool

        public var verdict: String {
            if unknown { return "unknown" }
            switch (breaksConsumers, breaksPublishers) {
            case (true, true): return "breaks consumers and publishers"
            case (true, false): return "breaks consumers"
            case (false, true): return "breaks publishers"
            case (false, false): return "compatible"
            }
        }

        public var description: String { "\(pointer.isEmpty ? "/" : pointer): \(what): \(verdict)" }
    }

    /// Whose side a diff is judged for (`--for`).
    public enum Side: String, Sendable, CaseIterable {
        case consumers, publishers, both
    }

    public let changes: [Change]
    /// A document valid under the new schema and invalid under the old one, when one of the
    /// examples drawn from both schemas is (it shows that the change breaks consumers).
    public let consumerWitness: JSONValue?
    /// A document valid under the old schema and invalid under the new one.
    public let publisherWitness: JSONValue?
    /// Where the witnesses belong when the diff compares several schemas (an AsyncAPI
    /// message's payload, `/channels/orders/messages/created/payload`); empty otherwise.
    public internal(set) var consumerWitnessPlace = ""
    public internal(set) var publisherWitnessPlace = ""

    /// Compares two schema documents. Both must compile as contracts (``JSONSchema``), so a
    /// keyword the validator refuses is refused here too.
    public init(old: JSONValue, new: JSONValue) throws(JSONSchema.CompileError) {
        let oldSchema = try JSONSchema(old)
        let newSchema = try JSONSchema(new)
        var walk = Walk(oldRoot: old, newRoot: new)
        walk.compare(old, new, at: "", depth: 0)
        let candidates = Examples(root: new).of(new, depth: 0) + Examples(root: old).of(old, depth: 0)
        consumerWitness = candidates.first { newSchema.accepts($0) && !oldSchema.accepts($0) }
        publisherWitness = candidates.first { oldSchema.accepts($0) && !newSchema.accepts($0) }
        // A witness the keyword walk did not foresee: say so rather than call the change compatible.
        if consumerWitness != nil && !walk.changes.contains(where: { $0.breaksConsumers || $0.unknown }) {
            walk.record("", "the schemas differ in a way not judged keyword by keyword (a witness breaks consumers)", unknown: true)
        }
        if publisherWitness != nil && !walk.changes.contains(where: { $0.breaksPublishers || $0.unknown }) {
            walk.record("", "the schemas differ in a way not judged keyword by keyword (a witness breaks publishers)", unknown: true)
        }
        changes = walk.changes
    }

    /// Whether some change breaks `side`, or cannot be judged.
    public func breaks(_ side: Side) -> Bool {
        changes.contains { change in
            switch side {
            case .consumers: change.breaksConsumers
            case .publishers: change.breaksPublishers
            case .both: change.breaksConsumers || change.breaksPublishers
            }
        }
    }

    public var hasUnknown: Bool { changes.contains(where: \.unknown) }

    /// `schema` with a `$ref` that has only annotations beside it followed (into `root`), at
    /// most `Walk.maxDepth` times, and the last reference followed.
    static func resolved(_ schema: JSONValue, in root: JSONValue) -> (schema: JSONValue, reference: String?) {
        var current = schema
        var last: String?
        for _ in 0..<Walk.maxDepth {
            guard case .object(let members) = current, let reference = members["$ref"]?.stringValue,
                  members.allSatisfy({ $0.key == "$ref" || Walk.annotations.contains($0.key) }),
                  reference.hasPrefix("#"), let pointer = String(reference.dropFirst()).removingPercentEncoding,
                  let target = root.value(at: pointer) else { break }
            current = target
            last = reference
        }
        return (current, last)
    }

    // MARK: examples

    /// Documents near the edges of each keyword of a schema (bounds and one past them, each
    /// enum value, each property present and absent…), for finding one that one schema accepts
    /// and the other refuses. Not all of them are valid; their number is bounded.
    struct Examples {
        let root: JSONValue
        static let maxDepth = 8
        static let perNode = 40
        /// Schema nodes visited at most: a schema whose references branch (a tree of trees)
        /// would otherwise be walked a number of times exponential in the depth.
        static let maxVisits = 20_000
        private let visits = Visits()

        private final class Visits: @unchecked Sendable {
            // @unchecked: one Examples value is used by one call of SchemaDiff.init, on one thread.
            var count = 0
        }

        init(root: JSONValue) {
            self.root = root
        }
        static let typesByKeyword: [(keyword: String, type: String)] = [
            ("properties", "object"), ("required", "object"), ("additionalProperties", "object"), ("items", "array"),
            ("prefixItems", "array"), ("minItems", "array"), ("maxItems", "array"), ("minLength", "string"), ("maxLength", "string"),
            ("pattern", "string"), ("minimum", "number"), ("maximum", "number"), ("exclusiveMinimum", "number"), ("exclusiveMaximum", "number"),
        ]

        func of(_ schema: JSONValue, depth: Int) -> [JSONValue] {
            let resolvedSchema = SchemaDiff.resolved(schema, in: root).schema
            visits.count += 1
            guard depth < Self.maxDepth, visits.count <= Self.maxVisits, case .object(let o) = resolvedSchema else {
                return [.null, .bool(true), .number(0), .number(1.5), .string(""), .array([]), .object([:])]
            }
            var listed: [JSONValue] = []
            if let constant = o["const"] { listed.append(constant) }
            if case .array(let values) = o["enum"] { listed += values }
            var types: [String]
            switch o["type"] {
            case .string(let name): types = [name]
            case .array(let names): types = names.compactMap(\.stringValue)
            default:
                // No type: the types its keywords speak of first, the rest after them.
                let spoken = Self.typesByKeyword.filter { o[$0.keyword] != nil }.map(\.type)
                types = spoken + ["object", "array", "string", "number", "boolean", "null"].filter { !spoken.contains($0) }
            }
            var seenTypes = Set<String>()
            types = types.filter { seenTypes.insert($0).inserted }
            let perType: [[JSONValue]] = types.map { type in
                switch type {
                case "null": [.null]
                case "boolean": [.bool(true), .bool(false)]
                case "number", "integer": numbers(o, integers: type == "integer")
                case "string": strings(o)
                case "array": arrays(o, depth: depth)
                case "object": objects(o, depth: depth)
                default: []
                }
            }
            // Declared types taken in turn, so that a cut keeps some of each; with no type, the
            // types its keywords speak of come whole before the others.
            var out = listed
            if o["type"] != nil {
                for index in 0..<(perType.map(\.count).max() ?? 0) {
                    for values in perType where index < values.count { out.append(values[index]) }
                }
            } else {
                out += perType.flatMap { $0 }
            }
            var seen = Set<JSONValue>()
            return Array(out.filter { seen.insert($0).inserted }.prefix(depth == 0 ? Self.perNode * 8 : Self.perNode))
        }

        func numbers(_ o: JSONObject, integers: Bool) -> [JSONValue] {
            var values: [Double] = []
            for keyword in ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"] {
                if case .number(let bound) = o[keyword] { values += [bound, bound + 1, bound - 1, bound + 0.5, bound - 0.5] }
            }
            values += [0, 1, -1, 1.5, 1e6]
            return values.filter { !integers || $0 == $0.rounded() }.map(JSONValue.number)
        }

        func strings(_ o: JSONObject) -> [JSONValue] {
            var lengths = [1, 0, 3]
            for keyword in ["minLength", "maxLength"] {
                if case .number(let bound) = o[keyword] { lengths += [Int(bound), Int(bound) + 1, max(0, Int(bound) - 1)] }
            }
            return lengths.filter { $0 <= 10_000 }.map { .string(String(repeating: "a", count: $0)) } + [.string("ABC"), .string("x-1")]
        }

        func arrays(_ o: JSONObject, depth: Int) -> [JSONValue] {
            let items = Array(of(o["items"] ?? .bool(true), depth: depth + 1).prefix(6))
            var out: [JSONValue] = [.array([])] + items.map { .array([$0]) }
            if let first = items.first {
                for keyword in ["minItems", "maxItems"] {
                    if case .number(let bound) = o[keyword], bound < 1_000 {
                        out += [Int(bound), Int(bound) + 1].map { .array(Array(repeating: first, count: $0)) }
                    }
                }
            }
            return out
        }

        func objects(_ o: JSONObject, depth: Int) -> [JSONValue] {
            var properties: [(name: String, schema: JSONValue)] = []
            if case .object(let declared) = o["properties"] { properties = declared.map { ($0.key, $0.value) }.sorted { $0.name < $1.name } }
            var required: [String] = []
            if case .array(let names) = o["required"] { required = names.compactMap(\.stringValue) }
            let examples = properties.map { (name: $0.name, values: Array(of($0.schema, depth: depth + 1).prefix(8))) }
            func example(_ name: String) -> JSONValue { examples.first { $0.name == name }?.values.first ?? .string("a") }
            let base: [JSONObject.Member] = required.map { (key: $0, value: example($0)) }
            func object(_ members: [JSONObject.Member]) -> JSONValue { .object(JSONObject(uniquing: members)) }
            var out = [object(base)]
            for (name, values) in examples {
                for value in values { out.append(object(base.filter { $0.key != name } + [(key: name, value: value)])) }
            }
            for name in required { out.append(object(base.filter { $0.key != name })) }
            for value in of(o["additionalProperties"] ?? .bool(true), depth: depth + 1).prefix(8) {
                out.append(object(base + [(key: "x-undeclared", value: value)]))
            }
            return out
        }
    }

    // MARK: the walk

    private struct Walk {
        let oldRoot: JSONValue
        let newRoot: JSONValue
        var changes: [Change] = []
        /// Pairs of references already compared (a recursive schema is compared once).
        var comparedReferences: Set<[String]> = []

        static let maxDepth = 64
        /// Keywords that say nothing about which messages are valid.
        static let annotations: Set<String> = ["$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default", "format"]
        /// Keywords compared whole: a difference in them is unknown.
        static let opaque = ["allOf", "anyOf", "oneOf", "not", "prefixItems"]

        mutating func record(_ pointer: String, _ what: String, consumers: Bool = false, publishers: Bool = false, unknown: Bool = false) {
            changes.append(Change(pointer: pointer, what: what, breaksConsumers: consumers, breaksPublishers: publishers, unknown: unknown))
        }

        func resolved(_ schema: JSONValue, in root: JSONValue) -> (schema: JSONValue, reference: String?) {
            SchemaDiff.resolved(schema, in: root)
        }

        /// Whether `schema` holds a `$ref` anywhere.
        static func containsReference(_ schema: JSONValue) -> Bool {
            switch schema {
            case .object(let members): members.contains { $0.key == "$ref" || containsReference($0.value) }
            case .array(let items): items.contains(where: containsReference)
            default: false
            }
        }

        mutating func compare(_ oldSchema: JSONValue, _ newSchema: JSONValue, at pointer: String, depth: Int) {
            let (old, oldReference) = resolved(oldSchema, in: oldRoot)
            let (new, newReference) = resolved(newSchema, in: newRoot)
            if old == new && !Self.containsReference(old) { return }
            if oldReference != nil || newReference != nil {
                guard comparedReferences.insert([oldReference ?? pointer, newReference ?? pointer]).inserted else { return }
            }
            guard depth < Self.maxDepth else {
                if old != new { record(pointer, "nested too deep to compare", unknown: true) }
                return
            }
            // `true` and `{}` accept everything, `false` nothing.
            let oldNever = old == .bool(false)
            let newNever = new == .bool(false)
            if oldNever || newNever {
                if oldNever != newNever {
                    record(pointer, oldNever ? "refused before (false), accepted now" : "accepted before, refused now (false)",
                           consumers: oldNever, publishers: newNever)
                }
                return
            }
            let o = members(old)
            let n = members(new)
            if o["$ref"] != nil || n["$ref"] != nil {
                // A `$ref` beside other keywords: both apply, which this walk does not combine.
                if old != new { record(pointer + "/$ref", "a reference beside other keywords changed", unknown: true) }
                return
            }
            compareTypes(o, n, at: pointer)
            compareValues(o, n, at: pointer)
            compareRequired(o, n, at: pointer)
            compareProperties(o, n, at: pointer, depth: depth)
            compare(o["items"] ?? .bool(true), n["items"] ?? .bool(true), at: pointer + "/items", depth: depth + 1)
            compareBounds(o, n, at: pointer)
            compareCounts(o, n, at: pointer)
            comparePattern(o, n, at: pointer)
            for keyword in Self.opaque where o[keyword] != n[keyword] {
                record(pointer + "/" + keyword, "\(keyword) changed (not compared keyword by keyword)", unknown: true)
            }
            for keyword in Self.annotations.sorted() where keyword != "$defs" && o[keyword] != n[keyword] {
                record(pointer + "/" + keyword, "\(keyword) changed")
            }
        }

        func members(_ schema: JSONValue) -> JSONObject {
            if case .object(let members) = schema { return members }
            return [:]
        }

        // MARK: keywords

        static let allTypes: Set<String> = ["null", "boolean", "number", "integer", "string", "array", "object"]

        func types(_ schema: JSONObject) -> Set<String> {
            switch schema["type"] {
            case .string(let name): [name]
            case .array(let names): Set(names.compactMap(\.stringValue))
            default: Self.allTypes
            }
        }

        /// Whether a value of type `type` can be valid under `types` (integers are numbers).
        static func admits(_ types: Set<String>, _ type: String) -> Bool {
            types.contains(type) || (type == "integer" && types.contains("number"))
        }

        mutating func compareTypes(_ o: JSONObject, _ n: JSONObject, at pointer: String) {
            guard o["type"] != n["type"] else { return }
            let old = types(o)
            let new = types(n)
            let widened = new.filter { !Self.admits(old, $0) }
            let narrowed = old.filter { !Self.admits(new, $0) }
            func list(_ set: Set<String>) -> String { set == Self.allTypes ? "any" : set.sorted().joined(separator: "|") }
            record(pointer + "/type", "type \(list(old)) → \(list(new))", consumers: !widened.isEmpty, publishers: !narrowed.isEmpty)
        }

        /// The values `enum` and `const` allow together; nil when they allow any.
        func allowedValues(_ schema: JSONObject) -> [JSONValue]? {
            var values: [JSONValue]?
            if case .array(let listed) = schema["enum"] { values = listed }
            if let constant = schema["const"] { values = (values ?? [constant]).filter { $0 == constant } }
            return values
        }

        mutating func compareValues(_ o: JSONObject, _ n: JSONObject, at pointer: String) {
            guard o["enum"] != n["enum"] || o["const"] != n["const"] else { return }
            let keyword = pointer + (o["const"] != nil || n["const"] != nil ? "/const" : "/enum")
            switch (allowedValues(o), allowedValues(n)) {
            case (nil, nil):
                return
            case (nil, .some(let new)):
                record(keyword, "values limited to \(new.count)", publishers: true)
            case (.some(let old), nil):
                record(keyword, "values no longer limited (were \(old.count))", consumers: true)
            case (.some(let old), .some(let new)):
                let added = new.filter { !old.contains($0) }.count
                let removed = old.filter { !new.contains($0) }.count
                guard added + removed > 0 else { return }
                record(keyword, "\(added) value(s) added, \(removed) removed", consumers: added > 0, publishers: removed > 0)
            }
        }

        mutating func compareRequired(_ o: JSONObject, _ n: JSONObject, at pointer: String) {
            func names(_ schema: JSONObject) -> Set<String> {
                guard case .array(let names) = schema["required"] else { return [] }
                return Set(names.compactMap(\.stringValue))
            }
            let old = names(o)
            let new = names(n)
            for name in new.subtracting(old).sorted() {
                record(pointer + "/required", "'\(name)' now required", publishers: true)
            }
            for name in old.subtracting(new).sorted() {
                record(pointer + "/required", "'\(name)' no longer required", consumers: true)
            }
        }

        /// Each property named on either side is compared with what the other side says of it
        /// (its own schema, else `additionalProperties`, else anything); then the rest.
        mutating func compareProperties(_ o: JSONObject, _ n: JSONObject, at pointer: String, depth: Int) {
            func declared(_ schema: JSONObject) -> JSONObject {
                if case .object(let properties) = schema["properties"] { return properties }
                return [:]
            }
            let oldProperties = declared(o)
            let newProperties = declared(n)
            let oldRest = o["additionalProperties"] ?? .bool(true)
            let newRest = n["additionalProperties"] ?? .bool(true)
            let names = Set(oldProperties.map(\.key)).union(newProperties.map(\.key)).sorted()
            for name in names {
                compare(oldProperties[name] ?? oldRest, newProperties[name] ?? newRest,
                        at: pointer + "/properties/" + JSONValue.pointerToken(name), depth: depth + 1)
            }
            compare(oldRest, newRest, at: pointer + "/additionalProperties", depth: depth + 1)
        }

        /// A numeric bound: the limit and whether it is exclusive.
        struct Bound {
            var value: Double
            var exclusive: Bool
        }

        func bound(_ schema: JSONObject, inclusive: String, exclusive: String, lower: Bool) -> Bound? {
            var result: Bound?
            if case .number(let value) = schema[inclusive] { result = Bound(value: value, exclusive: false) }
            if case .number(let value) = schema[exclusive] {
                let candidate = Bound(value: value, exclusive: true)
                if let current = result {
                    let tighter = lower ? value >= current.value : value <= current.value
                    if tighter { result = candidate }
                } else {
                    result = candidate
                }
            }
            return result
        }

        /// Whether bound `a` lets through values that bound `b` stops (nil: no bound).
        static func admitsBeyond(_ a: Bound?, _ b: Bound?, lower: Bool) -> Bool {
            guard let b else { return false }
            guard let a else { return true }
            if a.value != b.value { return lower ? a.value < b.value : a.value > b.value }
            return !a.exclusive && b.exclusive
        }

        mutating func compareBounds(_ o: JSONObject, _ n: JSONObject, at pointer: String) {
            for (inclusive, exclusive, lower) in [("minimum", "exclusiveMinimum", true), ("maximum", "exclusiveMaximum", false)] {
                guard o[inclusive] != n[inclusive] || o[exclusive] != n[exclusive] else { continue }
                let old = bound(o, inclusive: inclusive, exclusive: exclusive, lower: lower)
                let new = bound(n, inclusive: inclusive, exclusive: exclusive, lower: lower)
                func text(_ bound: Bound?) -> String {
                    guard let bound else { return "none" }
                    return (lower ? (bound.exclusive ? ">" : "≥") : (bound.exclusive ? "<" : "≤")) + " \(bound.value)"
                }
                let keyword = n[exclusive] != nil || o[exclusive] != nil && n[inclusive] == nil ? exclusive : inclusive
                record(pointer + "/" + keyword, "\(lower ? "lower" : "upper") bound \(text(old)) → \(text(new))",
                       consumers: Self.admitsBeyond(new, old, lower: lower), publishers: Self.admitsBeyond(old, new, lower: lower))
            }
        }

        mutating func compareCounts(_ o: JSONObject, _ n: JSONObject, at pointer: String) {
            for (minimum, maximum) in [("minLength", "maxLength"), ("minItems", "maxItems")] {
                for (keyword, lower) in [(minimum, true), (maximum, false)] where o[keyword] != n[keyword] {
                    func count(_ schema: JSONObject) -> Bound? {
                        if case .number(let value) = schema[keyword] { return Bound(value: value, exclusive: false) }
                        return lower ? Bound(value: 0, exclusive: false) : nil
                    }
                    let old = count(o)
                    let new = count(n)
                    func text(_ bound: Bound?) -> String { bound.map { "\(Int($0.value))" } ?? "none" }
                    record(pointer + "/" + keyword, "\(keyword) \(text(old)) → \(text(new))",
                           consumers: Self.admitsBeyond(new, old, lower: lower), publishers: Self.admitsBeyond(old, new, lower: lower))
                }
            }
        }

        mutating func comparePattern(_ o: JSONObject, _ n: JSONObject, at pointer: String) {
            switch (o["pattern"], n["pattern"]) {
            case let (old, new) where old == new:
                return
            case (nil, .some):
                record(pointer + "/pattern", "pattern added", publishers: true)
            case (.some, nil):
                record(pointer + "/pattern", "pattern removed", consumers: true)
            default:
                record(pointer + "/pattern", "pattern changed", unknown: true)
            }
        }
    }
}
