import Foundation

/// AsyncAPI's schema format (a JSON Schema draft-07 superset) rewritten into the 2020-12 subset
/// ``JSONSchema`` checks, one self-contained document per channel: every `$ref` target (in the
/// AsyncAPI document or a relative file) becomes an entry of `$defs`, draft-07's array-form
/// `items`/`additionalItems` become `prefixItems`/`items`, `dependencies` become `anyOf`s of
/// `required`, and AsyncAPI's own annotations (`discriminator`, `externalDocs`, `x-…`) are
/// dropped. A keyword the validator does not assert is refused with its place in its file.
struct AsyncAPISchemaTranslator {
    /// A place in one of the documents: the file and a JSON pointer into it.
    struct Place: Hashable {
        var file: String
        var pointer: String
        func child(_ token: String) -> Place { Place(file: file, pointer: pointer + "/" + JSONValue.pointerToken(token)) }
        var text: String { "\(file)#\(pointer)" }
        func problem(_ reason: String) -> AsyncAPIDocument.Problem { .init(file: file, pointer: pointer, reason: reason) }
    }

    /// Annotations of AsyncAPI and draft-07 that say nothing a message is checked against.
    static let droppedAnnotations: Set<String> = [
        "discriminator", "externalDocs", "deprecated", "readOnly", "writeOnly", "example", "contentMediaType", "contentEncoding",
        "$schema", "$id", "definitions", "$defs",
    ]

    private var documents: AsyncAPIDocuments
    /// `$defs` entry by the place it was made from.
    private var slots: [Place: String] = [:]
    /// Where each `$defs` entry comes from (to name the place of a compile error).
    private(set) var origins: [String: Place] = [:]
    private var definitions: [JSONObject.Member] = []
    private var pending: [(slot: String, value: JSONValue, place: Place)] = []

    init(documents: AsyncAPIDocuments) {
        self.documents = documents
    }

    /// The documents read so far (shared by every channel's translation).
    var loadedDocuments: AsyncAPIDocuments { documents }

    /// The `$defs` name for the schema at `place` (translated once, however often it is named).
    mutating func slot(for value: JSONValue, at place: Place) -> String {
        if let slot = slots[place] { return slot }
        let slot = "s\(slots.count)"
        slots[place] = slot
        origins[slot] = place
        pending.append((slot, value, place))
        return slot
    }

    /// Translates every schema named so far (and those they name) into `$defs`.
    mutating func definitionsObject() throws(AsyncAPIDocument.Problem) -> JSONValue {
        while !pending.isEmpty {
            let next = pending.removeFirst()
            definitions.append((key: next.slot, value: try translate(next.value, at: next.place)))
        }
        return .object(JSONObject(uniquing: definitions))
    }

    /// One schema, its subschemas translated and its references turned into `$defs` entries.
    private mutating func translate(_ schema: JSONValue, at place: Place) throws(AsyncAPIDocument.Problem) -> JSONValue {
        switch schema {
        case .bool: return schema
        case .object(let members):
            var out: [JSONObject.Member] = []
            var allOf: [JSONValue] = []
            for (key, value) in members {
                let here = place.child(key)
                switch key {
                case "$ref":
                    guard case .string(let reference) = value else { throw here.problem("$ref must be a string") }
                    out.append((key, .string("#/$defs/" + (try refer(reference, from: here)))))
                case "properties":
                    guard case .object(let properties) = value else { throw here.problem("properties must be an object") }
                    var translated: [JSONObject.Member] = []
                    for (name, property) in properties { translated.append((name, try translate(property, at: here.child(name)))) }
                    out.append((key, .object(JSONObject(uniquing: translated))))
                case "additionalProperties", "not":
                    out.append((key, try translate(value, at: here)))
                case "allOf", "anyOf", "oneOf", "prefixItems":
                    let list = try translateList(value, at: here)
                    if key == "allOf" { allOf += list } else { out.append((key, .array(list))) }
                case "items":
                    guard case .array = value else {
                        out.append((key, try translate(value, at: here)))
                        continue
                    }
                    // draft-07's tuple form: the positions, then what follows them.
                    out.append(("prefixItems", .array(try translateList(value, at: here))))
                    if let rest = members["additionalItems"] { out.append(("items", try translate(rest, at: place.child("additionalItems")))) }
                case "additionalItems":
                    continue  // read with an array-form `items`; draft-07 ignores it otherwise
                case "dependencies":
                    allOf += try dependencies(value, at: here)
                case _ where Self.droppedAnnotations.contains(key) || key.hasPrefix("x-"):
                    continue
                case _ where JSONSchema.annotations.contains(key) || JSONSchema.assertions.contains(key):
                    out.append((key, value))
                default:
                    throw here.problem("keyword '\(key)' is not supported (supported: \(JSONSchema.assertions.sorted().joined(separator: ", ")), "
                                       + "definitions, dependencies, additionalItems)")
                }
            }
            if !allOf.isEmpty { out.append(("allOf", .array(allOf))) }
            return .object(JSONObject(uniquing: out))
        default:
            throw place.problem("a schema must be an object or a boolean, not a JSON \(schema.typeName)")
        }
    }

    private mutating func translateList(_ value: JSONValue, at place: Place) throws(AsyncAPIDocument.Problem) -> [JSONValue] {
        guard case .array(let items) = value, !items.isEmpty else { throw place.problem("must be a non-empty array of schemas") }
        var list: [JSONValue] = []
        for (index, item) in items.enumerated() { list.append(try translate(item, at: place.child(String(index)))) }
        return list
    }

    /// draft-07's `dependencies`: a property present requires other properties (array form) or
    /// a schema (schema form); each becomes "the property is absent, or …".
    private mutating func dependencies(_ value: JSONValue, at place: Place) throws(AsyncAPIDocument.Problem) -> [JSONValue] {
        guard case .object(let entries) = value else { throw place.problem("dependencies must be an object") }
        var conditions: [JSONValue] = []
        for (name, dependency) in entries {
            let absent = JSONValue.object(["not": .object(["required": .array([.string(name)])])])
            switch dependency {
            case .array(let names) where names.allSatisfy({ if case .string = $0 { true } else { false } }):
                conditions.append(.object(["anyOf": .array([absent, .object(["required": .array(names)])])]))
            case .array:
                throw place.child(name).problem("a property dependency must list property names")
            default:
                conditions.append(.object(["anyOf": .array([absent, try translate(dependency, at: place.child(name))])]))
            }
        }
        return conditions
    }

    /// The `$defs` name of what `reference` (written at `place`) leads to, refusing one that
    /// leads nowhere, out of the local files, or around a loop of references.
    mutating func refer(_ reference: String, from place: Place) throws(AsyncAPIDocument.Problem) -> String {
        let first = try documents.resolve(reference, from: place)
        _ = try documents.follow(first.value, at: first.place)
        return slot(for: first.value, at: first.place)
    }
}

/// The AsyncAPI document and the files its references name, each read once.
struct AsyncAPIDocuments {
    private var files: [String: JSONValue]
    private let load: (String) throws(AsyncAPIDocument.Problem) -> JSONValue

    init(file: String, root: JSONValue, load: @escaping (String) throws(AsyncAPIDocument.Problem) -> JSONValue) {
        self.files = [file: root]
        self.load = load
    }

    /// What `reference` (`#/pointer`, `file.yaml`, `file.yaml#/pointer`, relative to the file
    /// it is written in) leads to, and where that is.
    mutating func resolve(_ reference: String, from place: AsyncAPISchemaTranslator.Place) throws(AsyncAPIDocument.Problem)
        -> (value: JSONValue, place: AsyncAPISchemaTranslator.Place)
    {
        let parts = reference.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0])
        guard !path.contains("://") else {
            throw place.problem("$ref '\(reference)' is not followed: only '#' pointers and relative files are read")
        }
        guard let fragment = (parts.count > 1 ? String(parts[1]) : "").removingPercentEncoding, fragment.isEmpty || fragment.hasPrefix("/") else {
            throw place.problem("$ref '\(reference)' is not a JSON pointer (anchors are not supported)")
        }
        let file = path.isEmpty ? place.file : Self.join(place.file, path)
        let document: JSONValue
        if let known = files[file] {
            document = known
        } else {
            do {
                document = try load(file)
            } catch {
                throw place.problem("$ref '\(reference)': \(error.reason)")
            }
            files[file] = document
        }
        guard let value = document.value(at: fragment) else { throw place.problem("$ref '\(reference)' leads nowhere") }
        return (value, .init(file: file, pointer: fragment))
    }

    /// Where `value` (at `place`) leads when it is a `$ref` to a `$ref`…: the first value that
    /// is not a reference, and its place.
    /// - Throws: a chain of references that comes back to itself (it never reaches a value).
    mutating func follow(_ value: JSONValue, at place: AsyncAPISchemaTranslator.Place) throws(AsyncAPIDocument.Problem)
        -> (value: JSONValue, place: AsyncAPISchemaTranslator.Place)
    {
        var target = (value: value, place: place)
        var chain = [place]
        while case .string(let next)? = target.value["$ref"] {
            target = try resolve(next, from: target.place.child("$ref"))
            guard !chain.contains(target.place) else {
                throw place.problem("$ref loops: " + (chain + [target.place]).map(\.text).joined(separator: " → "))
            }
            chain.append(target.place)
        }
        return target
    }

    /// `relative` read from the directory of `file` (`./` and `../` resolved).
    static func join(_ file: String, _ relative: String) -> String {
        guard !relative.hasPrefix("/") else { return relative }
        var components = file.split(separator: "/", omittingEmptySubsequences: false).dropLast().map(String.init)
        for component in relative.split(separator: "/") {
            switch component {
            case ".": continue
            case "..": if let last = components.last, !last.isEmpty, last != ".." { components.removeLast() } else { components.append("..") }
            default: components.append(String(component))
            }
        }
        return components.joined(separator: "/")
    }
}
