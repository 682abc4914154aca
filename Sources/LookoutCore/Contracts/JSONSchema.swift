import Foundation

/// A JSON Schema (draft 2020-12) limited to the core keywords an event contract needs, compiled
/// once at start and then checked against each message's payload.
///
/// Asserted: `type`, `properties`, `required`, `additionalProperties`, `items`, `prefixItems`,
/// `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `minLength`,
/// `maxLength`, `pattern`, `minItems`, `maxItems`, `allOf`, `anyOf`, `oneOf`, `not`, and local
/// `$ref` (`#`, `#/$defs/name`, any JSON pointer into the document). Accepted and not asserted:
/// `$schema`, `$id`, `$comment`, `$defs`, `title`, `description`, `examples`, `default`,
/// `format`. Any other keyword is refused when the schema is compiled, so a contract never
/// silently checks less than its author meant.
///
/// Bounds: a `pattern` is at most ``maxPatternLength`` characters and is tried on strings of at
/// most ``maxPatternInput`` bytes (a longer string fails it); references nest at most
/// ``maxEvaluationDepth`` deep.
public struct JSONSchema: Sendable {
    public static let maxPatternLength = 256
    public static let maxPatternInput = 1024
    public static let maxEvaluationDepth = 128

    static let annotations: Set<String> = ["$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default", "format"]
    static let assertions: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "enum", "const", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "allOf", "anyOf",
        "oneOf", "not", "$ref",
    ]

    /// Why a schema cannot be used: the JSON pointer of the offending place, and what is wrong.
    public struct CompileError: Error, Hashable, Sendable, CustomStringConvertible {
        public var pointer: String
        public var reason: String
        public var description: String { "at '\(pointer.isEmpty ? "#" : "#" + pointer)': \(reason)" }
    }

    /// Where and why an instance fails: the JSON pointer into the instance, the keyword's
    /// pointer into the schema, and a short message.
    public struct Violation: Hashable, Sendable, CustomStringConvertible {
        public var instancePointer: String
        public var schemaPointer: String
        public var message: String
        public var description: String { "\(instancePointer.isEmpty ? "/" : instancePointer): \(message) (\(schemaPointer))" }
    }

    private let nodes: [Node]

    /// Compiles `document` (the schema); the root is node 0.
    /// - Throws: ``CompileError`` for an unsupported keyword, a malformed value, a `$ref` that
    ///   is not local or leads nowhere, or a pattern that is too long or not a regular expression.
    public init(_ document: JSONValue) throws(CompileError) {
        var compiler = Compiler(root: document)
        _ = try compiler.compile(document, at: "")
        try compiler.compileDefinitions(document, at: "")
        nodes = compiler.nodes.map { $0! }
    }

    /// The first failure of `instance`, or nil when it is valid.
    public func validate(_ instance: JSONValue) -> Violation? {
        var depth = 0
        return check(0, instance, depth: &depth)
    }

    /// Whether `instance` is valid.
    public func accepts(_ instance: JSONValue) -> Bool { validate(instance) == nil }

    // MARK: the compiled form

    private enum Node: Sendable {
        case always
        case never(pointer: String)
        case keywords(Keywords)
    }

    /// One schema object's keywords. A class so that checking a node copies a reference, not
    /// two dozen fields; filled while compiling, never changed afterwards.
    private final class Keywords: @unchecked Sendable {
        let pointer: String

        init(pointer: String) {
            self.pointer = pointer
        }

        var types: [String]?
        var properties: [String: Int] = [:]
        /// `properties` in name order, so the first failure reported is always the same one.
        var sortedProperties: [(String, Int)] = []
        var required: [String] = []
        var additionalProperties: Int?
        var prefixItems: [Int] = []
        var items: Int?
        var enumValues: [JSONValue]?
        var constValue: JSONValue?
        var minimum: Double?
        var maximum: Double?
        var exclusiveMinimum: Double?
        var exclusiveMaximum: Double?
        var minLength: Int?
        var maxLength: Int?
        var minItems: Int?
        var maxItems: Int?
        var pattern: Pattern?
        var allOf: [Int] = []
        var anyOf: [Int] = []
        var oneOf: [Int] = []
        var not: Int?
        var ref: Int?
    }

    /// A compiled `pattern` (Swift's Regex, searched anywhere in the string as ECMA-262 does).
    private struct Pattern: @unchecked Sendable {
        // @unchecked: the Regex is built once and only read (matched) afterwards.
        let source: String
        let regex: Regex<AnyRegexOutput>
    }

    private struct Compiler {
        let root: JSONValue
        var nodes: [Node?] = []
        var byPointer: [String: Int] = [:]

        init(root: JSONValue) {
            self.root = root
        }

        mutating func compile(_ schema: JSONValue, at pointer: String) throws(CompileError) -> Int {
            if let index = byPointer[pointer] { return index }
            let index = nodes.count
            nodes.append(nil)
            byPointer[pointer] = index
            nodes[index] = try node(schema, at: pointer)
            return index
        }

        /// `$defs` are compiled even when nothing refers to them, so their mistakes show at start.
        mutating func compileDefinitions(_ schema: JSONValue, at pointer: String) throws(CompileError) {
            guard case .object(let members) = schema else { return }
            if case .object(let definitions)? = members["$defs"] {
                for (name, definition) in definitions.sorted(by: { $0.key < $1.key }) {
                    let path = pointer + "/$defs/" + JSONValue.pointerToken(name)
                    _ = try compile(definition, at: path)
                    try compileDefinitions(definition, at: path)
                }
            }
        }

        private func fail(_ pointer: String, _ reason: String) -> CompileError { CompileError(pointer: pointer, reason: reason) }

        private mutating func node(_ schema: JSONValue, at pointer: String) throws(CompileError) -> Node {
            switch schema {
            case .bool(true): return .always
            case .bool(false): return .never(pointer: pointer)
            case .object(let members):
                let keywords = Keywords(pointer: pointer)
                for (key, value) in members.sorted(by: { $0.key < $1.key }) {
                    try apply(key, value, to: keywords, at: pointer + "/" + JSONValue.pointerToken(key))
                }
                return .keywords(keywords)
            default:
                throw fail(pointer, "a schema is an object or a boolean, not \(schema.typeName)")
            }
        }

        private mutating func apply(_ key: String, _ value: JSONValue, to keywords: Keywords, at pointer: String) throws(CompileError) {
            func count() throws(CompileError) -> Int {
                guard case .number(let number) = value, number >= 0, number == number.rounded(), number < 1e15 else {
                    throw fail(pointer, "\(key) must be a non-negative integer")
                }
                return Int(number)
            }
            func number() throws(CompileError) -> Double {
                guard case .number(let number) = value else { throw fail(pointer, "\(key) must be a number") }
                return number
            }
            func schemas() throws(CompileError) -> [Int] {
                guard case .array(let list) = value, !list.isEmpty else { throw fail(pointer, "\(key) must be a non-empty array of schemas") }
                var indices: [Int] = []
                for (index, element) in list.enumerated() { indices.append(try compile(element, at: pointer + "/\(index)")) }
                return indices
            }
            switch key {
            case _ where JSONSchema.annotations.contains(key):
                if key == "$defs" {
                    guard case .object = value else { throw fail(pointer, "$defs must be an object") }
                }
            case "type":
                let names: [String]
                switch value {
                case .string(let name): names = [name]
                case .array(let list): names = list.compactMap(\.stringValue)
                    guard names.count == list.count, !names.isEmpty else { throw fail(pointer, "type must be a name or an array of names") }
                default: throw fail(pointer, "type must be a name or an array of names")
                }
                let known: Set<String> = ["null", "boolean", "object", "array", "number", "string", "integer"]
                if let unknown = names.first(where: { !known.contains($0) }) { throw fail(pointer, "'\(unknown)' is not a JSON Schema type") }
                keywords.types = names
            case "properties":
                guard case .object(let properties) = value else { throw fail(pointer, "properties must be an object of schemas") }
                for (name, schema) in properties.sorted(by: { $0.key < $1.key }) {
                    let index = try compile(schema, at: pointer + "/" + JSONValue.pointerToken(name))
                    keywords.properties[name] = index
                    keywords.sortedProperties.append((name, index))
                }
            case "required":
                guard case .array(let list) = value, list.allSatisfy({ $0.stringValue != nil }) else {
                    throw fail(pointer, "required must be an array of names")
                }
                keywords.required = list.compactMap(\.stringValue)
            case "additionalProperties": keywords.additionalProperties = try compile(value, at: pointer)
            case "items": keywords.items = try compile(value, at: pointer)
            case "prefixItems": keywords.prefixItems = try schemas()
            case "enum":
                guard case .array(let list) = value else { throw fail(pointer, "enum must be an array") }
                keywords.enumValues = list
            case "const": keywords.constValue = value
            case "minimum": keywords.minimum = try number()
            case "maximum": keywords.maximum = try number()
            case "exclusiveMinimum": keywords.exclusiveMinimum = try number()
            case "exclusiveMaximum": keywords.exclusiveMaximum = try number()
            case "minLength": keywords.minLength = try count()
            case "maxLength": keywords.maxLength = try count()
            case "minItems": keywords.minItems = try count()
            case "maxItems": keywords.maxItems = try count()
            case "pattern":
                guard case .string(let source) = value else { throw fail(pointer, "pattern must be a string") }
                guard source.count <= JSONSchema.maxPatternLength else {
                    throw fail(pointer, "pattern is longer than \(JSONSchema.maxPatternLength) characters")
                }
                do {
                    keywords.pattern = Pattern(source: source, regex: try Regex(source))
                } catch {
                    throw fail(pointer, "pattern '\(source)' is not a regular expression: \(error)")
                }
            case "allOf": keywords.allOf = try schemas()
            case "anyOf": keywords.anyOf = try schemas()
            case "oneOf": keywords.oneOf = try schemas()
            case "not": keywords.not = try compile(value, at: pointer)
            case "$ref":
                guard case .string(let reference) = value else { throw fail(pointer, "$ref must be a string") }
                keywords.ref = try resolve(reference, at: pointer)
            default:
                throw fail(pointer, "keyword '\(key)' is not supported (supported: \(JSONSchema.assertions.sorted().joined(separator: ", ")); "
                           + "annotations: \(JSONSchema.annotations.sorted().joined(separator: ", ")))")
            }
        }

        /// A local reference: `#` or `#` followed by a JSON pointer (percent-encoding allowed).
        private mutating func resolve(_ reference: String, at pointer: String) throws(CompileError) -> Int {
            guard reference.hasPrefix("#") else { throw fail(pointer, "$ref '\(reference)' is not local: only '#…' references are supported") }
            guard let fragment = String(reference.dropFirst()).removingPercentEncoding else {
                throw fail(pointer, "$ref '\(reference)' is not a valid URI fragment")
            }
            guard fragment.isEmpty || fragment.hasPrefix("/") else {
                throw fail(pointer, "$ref '\(reference)' is not a JSON pointer (anchors are not supported)")
            }
            guard let target = root.value(at: fragment) else { throw fail(pointer, "$ref '\(reference)' leads nowhere in this schema") }
            return try compile(target, at: fragment)
        }
    }

    // MARK: validation

    /// The first failure of `instance` against node `index`; its instance pointer is relative
    /// to `instance` (a parent prefixes its own step, so paths are built only for a failure).
    private func check(_ index: Int, _ instance: JSONValue, depth: inout Int) -> Violation? {
        switch nodes[index] {
        case .always: return nil
        case .never(let pointer): return Violation(instancePointer: "", schemaPointer: "#" + pointer, message: "the schema allows nothing here")
        case .keywords(let keywords):
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxEvaluationDepth else {
                return Violation(instancePointer: "", schemaPointer: "#" + keywords.pointer, message: "references nest too deep")
            }
            return check(keywords, instance, depth: &depth)
        }
    }

    private func check(_ k: Keywords, _ instance: JSONValue, depth: inout Int) -> Violation? {
        func violation(_ keyword: String, _ message: String) -> Violation {
            Violation(instancePointer: "", schemaPointer: "#" + k.pointer + "/" + keyword, message: message)
        }
        func below(_ step: String, _ failure: Violation) -> Violation {
            var failure = failure
            failure.instancePointer = "/" + step + failure.instancePointer
            return failure
        }
        if let ref = k.ref, let failure = check(ref, instance, depth: &depth) { return failure }
        if let types = k.types, !types.contains(where: { Self.matches(instance, type: $0) }) {
            return violation("type", "\(instance.typeName) is not \(types.joined(separator: " or "))")
        }
        if let constValue = k.constValue, constValue != instance { return violation("const", "not the constant value") }
        if let values = k.enumValues, !values.contains(instance) { return violation("enum", "not one of the enumerated values") }
        switch instance {
        case .number(let number):
            if let minimum = k.minimum, number < minimum { return violation("minimum", "\(Self.text(number)) is less than \(Self.text(minimum))") }
            if let maximum = k.maximum, number > maximum { return violation("maximum", "\(Self.text(number)) is more than \(Self.text(maximum))") }
            if let bound = k.exclusiveMinimum, number <= bound { return violation("exclusiveMinimum", "\(Self.text(number)) is not more than \(Self.text(bound))") }
            if let bound = k.exclusiveMaximum, number >= bound { return violation("exclusiveMaximum", "\(Self.text(number)) is not less than \(Self.text(bound))") }
        case .string(let text):
            if k.minLength != nil || k.maxLength != nil {
                let length = text.unicodeScalars.count
                if let minLength = k.minLength, length < minLength { return violation("minLength", "shorter than \(minLength) characters") }
                if let maxLength = k.maxLength, length > maxLength { return violation("maxLength", "longer than \(maxLength) characters") }
            }
            if let pattern = k.pattern {
                guard text.utf8.count <= Self.maxPatternInput else {
                    return violation("pattern", "longer than \(Self.maxPatternInput) bytes: not matched against '\(pattern.source)'")
                }
                if (try? pattern.regex.firstMatch(in: text)) == nil { return violation("pattern", "does not match '\(pattern.source)'") }
            }
        case .array(let elements):
            if let minItems = k.minItems, elements.count < minItems { return violation("minItems", "fewer than \(minItems) items") }
            if let maxItems = k.maxItems, elements.count > maxItems { return violation("maxItems", "more than \(maxItems) items") }
            for (position, element) in elements.enumerated() {
                let schema = position < k.prefixItems.count ? k.prefixItems[position] : k.items
                if let schema, let failure = check(schema, element, depth: &depth) { return below("\(position)", failure) }
            }
        case .object(let members):
            for name in k.required where members[name] == nil { return violation("required", "'\(name)' is missing") }
            for (name, schema) in k.sortedProperties {
                if let value = members[name], let failure = check(schema, value, depth: &depth) { return below(JSONValue.pointerToken(name), failure) }
            }
            if let additional = k.additionalProperties, members.count > 0 {
                // Members the properties do not name: the first failing one by name, for a stable report.
                var first: (name: String, failure: Violation)?
                for (name, value) in members where k.properties[name] == nil && name < (first?.name ?? "\u{10FFFF}") {
                    if let failure = check(additional, value, depth: &depth) { first = (name, failure) }
                }
                if let first { return below(JSONValue.pointerToken(first.name), first.failure) }
            }
        default:
            break
        }
        for schema in k.allOf {
            if let failure = check(schema, instance, depth: &depth) { return failure }
        }
        if !k.anyOf.isEmpty, !k.anyOf.contains(where: { check($0, instance, depth: &depth) == nil }) {
            return violation("anyOf", "matches none of the alternatives")
        }
        if !k.oneOf.isEmpty {
            let matching = k.oneOf.filter { check($0, instance, depth: &depth) == nil }.count
            if matching != 1 { return violation("oneOf", "matches \(matching) of the alternatives, not exactly one") }
        }
        if let not = k.not, check(not, instance, depth: &depth) == nil { return violation("not", "matches a schema it must not") }
        return nil
    }

    /// A number as JSON writes it: `3`, not `3.0`.
    static func text(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
    }

    private static func matches(_ instance: JSONValue, type: String) -> Bool {
        switch (type, instance) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array), ("object", .object): true
        case ("integer", .number(let number)): number.isFinite && number == number.rounded()
        default: false
        }
    }
}
