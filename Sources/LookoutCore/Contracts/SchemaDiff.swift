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

    /// Compares two schema documents. Both must compile as contracts (``JSONSchema``), so a
    /// keyword the validator refuses is refused here too.
    public init(old: JSONValue, new: JSONValue) throws(JSONSchema.CompileError) {
        _ = try JSONSchema(old)
        _ = try JSONSchema(new)
        var walk = Walk(oldRoot: old, newRoot: new)
        walk.compare(old, new, at: "", depth: 0)
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

        /// `schema` with a `$ref` that has only annotations beside it followed (into `root`), at
        /// most `maxDepth` times, and the last reference followed.
        func resolved(_ schema: JSONValue, in root: JSONValue) -> (schema: JSONValue, reference: String?) {
            var current = schema
            var last: String?
            for _ in 0..<Self.maxDepth {
                guard case .object(let members) = current, let reference = members["$ref"]?.stringValue,
                      members.allSatisfy({ $0.key == "$ref" || Self.annotations.contains($0.key) }),
                      let target = Self.follow(reference, in: root) else { break }
                current = target
                last = reference
            }
            return (current, last)
        }

        /// Whether `schema` holds a `$ref` anywhere.
        static func containsReference(_ schema: JSONValue) -> Bool {
            switch schema {
            case .object(let members): members.contains { $0.key == "$ref" || containsReference($0.value) }
            case .array(let items): items.contains(where: containsReference)
            default: false
            }
        }

        /// The value a local reference (`#`, `#/json/pointer`, percent-encoded or not) names.
        static func follow(_ reference: String, in root: JSONValue) -> JSONValue? {
            guard reference.hasPrefix("#"), let pointer = String(reference.dropFirst()).removingPercentEncoding else { return nil }
            return root.value(at: pointer)
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
