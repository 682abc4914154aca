import Foundation
import LookoutCore
import LookoutTestSupport
import Testing

@Suite struct SchemaDiffTests {
    private func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    private func diff(_ old: String, _ new: String) throws -> SchemaDiff { try SchemaDiff(old: json(old), new: json(new)) }

    /// Instances to try both schemas on: every JSON type, around the bounds used below, and
    /// objects built from the property names used below.
    private static let scalars: [JSONValue] = [
        .null, .bool(true), .bool(false), .number(0), .number(1), .number(1.5), .number(-3), .number(5), .number(10), .number(10.5),
        .number(100), .string(""), .string("a"), .string("ab"), .string("abcdef"), .string("EUR"), .string("USD"), .string("GBP"),
        .string("x-1"),
    ]
    private static let instances: [JSONValue] = {
        var all = scalars + [.array([]), .array([.number(1)]), .array([.string("a"), .number(1)]), .array([.number(1), .number(2), .number(3)])]
        for total in [JSONValue.number(5), .string("5"), .number(1.5), .null] {
            all.append(.object(["total": total]))
            all.append(.object(["total": total, "currency": .string("EUR")]))
            all.append(.object(["total": total, "currency": .string("GBP"), "note": .string("x")]))
            all.append(.object(["total": total, "items": .array([.object(["sku": .string("a")])])]))
            all.append(.object(["total": total, "items": .array([.object(["sku": .number(1)])])]))
        }
        all.append(.object([:]))
        all.append(.object(["currency": .string("USD")]))
        // And generated ones, over the names and values the schemas below use.
        var random = SplitMix64(state: 20_261_207)
        for _ in 0..<600 {
            let text = JSONSchemaTests.randomJSON(&random, depth: 0, keys: ["total", "currency", "note", "items", "sku", "lines", "v"],
                                                  strings: ["", "a", "ab", "abc", "EUR", "USD", "GBP", "x-1"])
            if let value = try? JSONValue.parse(Array(text.utf8)) { all.append(value) }
        }
        return all
    }()

    /// Checks the verdicts against the validator: a diff that says nothing breaks consumers
    /// has no instance valid under NEW and invalid under OLD among the generated ones (and the
    /// converse for publishers), and a verdict of breaking comes with a witness that shows it.
    private func expectSound(_ old: String, _ new: String, consumers: Bool, publishers: Bool, witnesses checks: inout [WitnessCheck],
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try diff(old, new)
        #expect(!result.hasUnknown, "\(result.changes)", sourceLocation: sourceLocation)
        #expect(result.breaks(.consumers) == consumers, "\(result.changes)", sourceLocation: sourceLocation)
        #expect(result.breaks(.publishers) == publishers, "\(result.changes)", sourceLocation: sourceLocation)
        let oldSchema = try JSONSchema(json(old))
        let newSchema = try JSONSchema(json(new))
        // A side said not to break has no document that breaks it among the generated ones...
        if !consumers {
            let found = Self.instances.first { newSchema.accepts($0) && !oldSchema.accepts($0) }
            #expect(found == nil, "breaks consumers after all: \(found?.text ?? "")", sourceLocation: sourceLocation)
        }
        if !publishers {
            let found = Self.instances.first { oldSchema.accepts($0) && !newSchema.accepts($0) }
            #expect(found == nil, "breaks publishers after all: \(found?.text ?? "")", sourceLocation: sourceLocation)
        }
        // ...and a side said to break has a witness, found by the diff and shown by the validator.
        #expect((result.consumerWitness != nil) == consumers, "\(result.consumerWitness?.text ?? "no witness")", sourceLocation: sourceLocation)
        #expect((result.publisherWitness != nil) == publishers, "\(result.publisherWitness?.text ?? "no witness")", sourceLocation: sourceLocation)
        if let witness = result.consumerWitness {
            #expect(newSchema.accepts(witness) && !oldSchema.accepts(witness), "\(witness.text)", sourceLocation: sourceLocation)
            checks += [(new, witness.text, true), (old, witness.text, false)]
        }
        if let witness = result.publisherWitness {
            #expect(oldSchema.accepts(witness) && !newSchema.accepts(witness), "\(witness.text)", sourceLocation: sourceLocation)
            checks += [(old, witness.text, true), (new, witness.text, false)]
        }
    }

    /// A witness and whether a schema must accept it, for python3-jsonschema to confirm.
    typealias WitnessCheck = (schema: String, instance: String, valid: Bool)

    /// Each witness judged by python3-jsonschema (Draft202012Validator) as by our validator.
    private func expectConfirmedByPython(_ checks: [WitnessCheck], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        guard !checks.isEmpty else { return }
        let input = "[" + checks.map { #"{"schema":\#($0.schema),"instance":\#($0.instance)}"# }.joined(separator: ",") + "]"
        let path = NSTemporaryDirectory() + "lookout-schema-witnesses-\(UUID().uuidString).json"
        try input.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let script = """
            import json, sys
            from jsonschema import Draft202012Validator
            print(json.dumps([Draft202012Validator(c["schema"]).is_valid(c["instance"]) for c in json.load(open(sys.argv[1]))]))
            """
        let python = try await runCommand("/usr/bin/python3", ["-c", script, path])
        #expect(python.status == 0, "python3-jsonschema (make test installs it): \(python.output.prefix(500))", sourceLocation: sourceLocation)
        let verdicts = try #require(try JSONSerialization.jsonObject(with: Data(python.output.utf8)) as? [Bool], sourceLocation: sourceLocation)
        #expect(verdicts == checks.map(\.valid), "\(checks.map(\.instance))", sourceLocation: sourceLocation)
    }

    @Test func witnessesAreConfirmedByPythonJSONSchema() async throws {
        let pairs = [
            (#"{"type": "object", "properties": {"total": {"type": "number", "minimum": 0}}, "required": ["total"], "additionalProperties": false}"#,
             #"{"type": "object", "properties": {"total": {"type": ["number", "string"]}, "note": {"type": "string", "maxLength": 3}}, "required": ["total"], "additionalProperties": false}"#),
            (#"{"properties": {"lines": {"type": "array", "items": {"properties": {"sku": {"type": "string", "minLength": 2}}}, "maxItems": 2}}}"#,
             #"{"properties": {"lines": {"type": "array", "items": {"properties": {"sku": {"type": "string", "minLength": 1}}}, "maxItems": 1}}}"#),
            (#"{"enum": ["EUR", "USD"]}"#, #"{"type": "string", "maxLength": 3}"#),
            (#"{"type": "integer", "exclusiveMaximum": 10}"#, #"{"type": "number", "maximum": 10}"#),
        ]
        var checks: [WitnessCheck] = []
        // The second pair also breaks publishers (maxItems lowered).
        for (old, new) in pairs {
            let result = try diff(old, new)
            #expect(result.consumerWitness != nil, "every pair breaks consumers: \(old) → \(new)")
            if let consumer = result.consumerWitness { checks += [(new, consumer.text, true), (old, consumer.text, false)] }
            if let publisher = result.publisherWitness { checks += [(old, publisher.text, true), (new, publisher.text, false)] }
        }
        try await expectConfirmedByPython(checks)
    }

    @Test func typesWidenedNarrowedAndIntegersAsNumbers() async throws {
        var checks: [WitnessCheck] = []
        try expectSound(#"{"type": "string"}"#, #"{"type": ["string", "null"]}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": ["string", "null"]}"#, #"{"type": "string"}"#, consumers: false, publishers: true, witnesses: &checks)
        try expectSound(#"{"type": "integer"}"#, #"{"type": "number"}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": "number"}"#, #"{"type": "integer"}"#, consumers: false, publishers: true, witnesses: &checks)
        try expectSound(#"{"type": "string"}"#, #"{"type": "number"}"#, consumers: true, publishers: true, witnesses: &checks)
        try expectSound(#"{"type": "string"}"#, #"{}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": ["null", "string"]}"#, #"{"type": ["string", "null"]}"#, consumers: false, publishers: false, witnesses: &checks)
        try await expectConfirmedByPython(checks)
    }

    @Test func requiredAndPropertiesAndAdditionalProperties() async throws {
        var checks: [WitnessCheck] = []
        let base = #"{"type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]"#
        try expectSound(base + "}", #"{"type": "object", "properties": {"total": {"type": "number"}}}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(base + "}", base + #", "properties": {"total": {"type": "number"}, "currency": {"type": "string"}}, "required": ["total", "currency"]}"#,
                        consumers: false, publishers: true, witnesses: &checks)
        // A property the old schema closed out, now declared: consumers meet it.
        try expectSound(base + #", "additionalProperties": false}"#,
                        #"{"type": "object", "properties": {"total": {"type": "number"}, "currency": {"type": "string"}}, "required": ["total"], "additionalProperties": false}"#,
                        consumers: true, publishers: false, witnesses: &checks)
        // Closing an open object breaks publishers that sent more.
        try expectSound(base + "}", base + #", "additionalProperties": false}"#, consumers: false, publishers: true, witnesses: &checks)
        // A nested property's type widened.
        try expectSound(#"{"properties": {"total": {"type": "number"}}}"#, #"{"properties": {"total": {"type": ["number", "string"]}}}"#,
                        consumers: true, publishers: false, witnesses: &checks)
        try await expectConfirmedByPython(checks)
    }

    @Test func enumsConstsAndBounds() async throws {
        var checks: [WitnessCheck] = []
        try expectSound(#"{"enum": ["EUR", "USD"]}"#, #"{"enum": ["EUR", "USD", "GBP"]}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"enum": ["EUR", "USD"]}"#, #"{"enum": ["EUR"]}"#, consumers: false, publishers: true, witnesses: &checks)
        try expectSound(#"{"const": "EUR"}"#, #"{"enum": ["EUR", "USD"]}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": "number", "minimum": 1}"#, #"{"type": "number", "minimum": 0}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": "number", "minimum": 1}"#, #"{"type": "number", "exclusiveMinimum": 1}"#, consumers: false, publishers: true, witnesses: &checks)
        try expectSound(#"{"type": "number", "maximum": 10}"#, #"{"type": "number"}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": "number", "maximum": 10}"#, #"{"type": "number", "exclusiveMaximum": 11}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": "string", "maxLength": 2}"#, #"{"type": "string", "maxLength": 1}"#, consumers: false, publishers: true, witnesses: &checks)
        try expectSound(#"{"type": "string", "minLength": 1}"#, #"{"type": "string"}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": "array", "maxItems": 2}"#, #"{"type": "array", "maxItems": 3}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": "array"}"#, #"{"type": "array", "minItems": 1}"#, consumers: false, publishers: true, witnesses: &checks)
        try expectSound(#"{"type": "number", "exclusiveMinimum": 0}"#, #"{"type": "number", "minimum": 0}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": "number", "minimum": 0, "maximum": 10}"#, #"{"type": "number", "minimum": 1, "maximum": 100}"#,
                        consumers: true, publishers: true, witnesses: &checks)
        try expectSound(#"{"const": "EUR"}"#, #"{"const": "USD"}"#, consumers: true, publishers: true, witnesses: &checks)
        try expectSound(#"{"type": "string", "enum": ["EUR", "USD"]}"#, #"{"type": "string"}"#, consumers: true, publishers: false, witnesses: &checks)
        try await expectConfirmedByPython(checks)
    }

    @Test func nestedObjectsAndArrays() async throws {
        var checks: [WitnessCheck] = []
        try expectSound(#"{"properties": {"items": {"type": "array", "items": {"type": "string"}}}}"#,
                        #"{"properties": {"items": {"type": "array", "items": {"type": ["string", "number"]}}}}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"properties": {"lines": {"type": "array", "items": {"properties": {"sku": {"type": "string"}}, "required": ["sku"]}}}}"#,
                        #"{"properties": {"lines": {"type": "array", "items": {"properties": {"sku": {"type": "string"}}}}}}"#, consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": "object", "additionalProperties": {"type": "string"}}"#, #"{"type": "object", "additionalProperties": {"type": "number"}}"#,
                        consumers: true, publishers: true, witnesses: &checks)
        try expectSound(#"{"type": "object", "properties": {"v": {"type": "number"}}, "additionalProperties": {"type": "string"}}"#,
                        #"{"type": "object", "properties": {"v": {"type": "number"}, "note": {"type": "string"}}, "additionalProperties": {"type": "string"}}"#,
                        consumers: false, publishers: false, witnesses: &checks)
        try expectSound(#"{"properties": {"v": {"properties": {"total": {"type": "integer"}}}}}"#, #"{"properties": {"v": {"properties": {"total": {"type": "number"}}}}}"#,
                        consumers: true, publishers: false, witnesses: &checks)
        try expectSound(#"{"type": "object", "required": ["total"]}"#, #"{"type": "object", "required": ["total"], "description": "the same"}"#,
                        consumers: false, publishers: false, witnesses: &checks)
        try await expectConfirmedByPython(checks)
    }

    @Test func arraysAndReferencesAreFollowed() async throws {
        var checks: [WitnessCheck] = []
        let old = ##"{"$defs": {"item": {"type": "object", "properties": {"sku": {"type": "string"}}}}, "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/item"}}}}"##
        let new = ##"{"$defs": {"item": {"type": "object", "properties": {"sku": {"type": ["string", "number"]}}}}, "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/item"}}}}"##
        try expectSound(old, new, consumers: true, publishers: false, witnesses: &checks)
        let change = try #require(try diff(old, new).changes.first)
        #expect(change.pointer == "/properties/items/items/properties/sku/type")
        #expect(change.verdict == "breaks consumers")
        try await expectConfirmedByPython(checks)
    }

    @Test func aRecursiveSchemaIsComparedOnce() throws {
        let tree = ##"{"$defs": {"node": {"type": "object", "properties": {"left": {"$ref": "#/$defs/node"}, "right": {"$ref": "#/$defs/node"}, "v": {"type": "%@"}}}}, "$ref": "#/$defs/node"}"##
        let result = try diff(tree.replacingOccurrences(of: "%@", with: "integer"), tree.replacingOccurrences(of: "%@", with: "number"))
        #expect(result.breaks(.consumers) && !result.breaks(.publishers))
        #expect(result.changes.count < 10, "\(result.changes.count) changes")
        #expect(result.consumerWitness != nil, "a witness within the examples' budget")
        // Eight references per node, eight levels deep, would be 8^8 nodes to draw examples from.
        let bushy = ##"{"$defs": {"n": {"type": "object", "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"$ref": "#/$defs/n"}, "c": {"$ref": "#/$defs/n"}, "d": {"$ref": "#/$defs/n"}, "e": {"$ref": "#/$defs/n"}, "f": {"$ref": "#/$defs/n"}, "g": {"$ref": "#/$defs/n"}, "h": {"$ref": "#/$defs/n"}, "v": {"type": "%@"}}}}, "$ref": "#/$defs/n"}"##
        let bushyDiff = try diff(bushy.replacingOccurrences(of: "%@", with: "integer"), bushy.replacingOccurrences(of: "%@", with: "number"))
        #expect(bushyDiff.breaks(.consumers) && bushyDiff.changes.count < 10)
    }

    @Test func whatCannotBeJudgedIsUnknownAndAnnotationsAreCompatible() throws {
        let pattern = try diff(#"{"type": "string", "pattern": "^a"}"#, #"{"type": "string", "pattern": "^b"}"#)
        #expect(pattern.hasUnknown)
        #expect(pattern.changes.map(\.verdict) == ["unknown"])
        #expect(try diff(#"{"anyOf": [{"type": "string"}]}"#, #"{"anyOf": [{"type": "number"}]}"#).hasUnknown)
        let described = try diff(#"{"type": "string", "description": "a"}"#, #"{"type": "string", "description": "b"}"#)
        #expect(described.changes.map(\.description) == ["/description: description changed: compatible"])
        #expect(!described.breaks(.both) && !described.hasUnknown)
        #expect(try diff(#"{"type": "string"}"#, #"{"type": "string"}"#).changes.isEmpty)
        #expect(throws: JSONSchema.CompileError.self) { try diff(#"{"type": "string"}"#, #"{"uniqueItems": true}"#) }
    }
}
