import Foundation
import LookoutCore
import LookoutTestSupport
import Testing

@Suite struct JSONValueTests {
    @Test func parsesDocumentsAndRefusesWhatIsNotJSON() throws {
        let document = try JSONValue.parse(Array(#" {"a": [1, -2.5e1, true, null], "b": "x\u00e9\ud83d\ude00\n", "a": 0} "#.utf8))
        #expect(document == .object(["a": .number(0), "b": .string("xé😀\n")]), "a later duplicate key wins")
        #expect(try JSONValue.parse(Array("[1.0]".utf8)) == .array([.number(1)]))
        for text in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "+1", ".5", "1e", "tru", "\"\\x\"", "\"\u{01}\"", "[1] 2", "'a'",
                     "\"\\ud83d\"", "\"\\ude00\"", "NaN", "{\"a\":1,}"] {
            #expect(throws: JSONValue.ParseError.self, "\(text.debugDescription)") { try JSONValue.parse(Array(text.utf8)) }
        }
        #expect(throws: JSONValue.ParseError.self, "not UTF-8") { try JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]) }
        #expect(throws: JSONValue.ParseError.tooDeep) { try JSONValue.parse(Array((String(repeating: "[", count: 65) + String(repeating: "]", count: 65)).utf8)) }
        #expect(try JSONValue.parse(Array((String(repeating: "[", count: 64) + String(repeating: "]", count: 64)).utf8)) != .null)
    }
}

@Suite struct JSONSchemaTests {
    private func schema(_ text: String) throws -> JSONSchema { try JSONSchema(try JSONValue.parse(Array(text.utf8))) }
    private func value(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    @Test func refusesKeywordsItDoesNotAssertAndMalformedValues() throws {
        for (text, pointer) in [
            (#"{"uniqueItems": true}"#, "/uniqueItems"),
            (#"{"properties": {"a": {"patternProperties": {}}}}"#, "/properties/a/patternProperties"),
            (#"{"$defs": {"x": {"if": true}}}"#, "/$defs/x/if"),
            (#"{"type": "date"}"#, "/type"),
            (#"{"minLength": -1}"#, "/minLength"),
            (#"{"$ref": "other.json#/a"}"#, "/$ref"),
            (##"{"$ref": "#/$defs/missing"}"##, "/$ref"),
            (#"{"pattern": "(unclosed"}"#, "/pattern"),
            (#"{"allOf": []}"#, "/allOf"),
            ("3", ""),
        ] {
            #expect("\(text)") { _ = try schema(text) } throws: { ($0 as? JSONSchema.CompileError)?.pointer == pointer }
        }
        #expect(throws: JSONSchema.CompileError.self) { _ = try schema(#"{"pattern": "\#(String(repeating: "a", count: 257))"}"#) }
        _ = try schema(#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "$comment": "c", "title": "t", "format": "uuid"}"#)
    }

    @Test func violationsSayWhereAndWhy() throws {
        let order = try schema(#"""
            {"type": "object", "required": ["id", "lines"],
             "properties": {"id": {"type": "string"},
                            "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}}},
             "$defs": {"line": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}}}}
            """#)
        #expect(order.validate(try value(#"{"id": "o1", "lines": [{"qty": 2}]}"#)) == nil)
        let failure = try #require(order.validate(try value(#"{"id": "o1", "lines": [{"qty": 2}, {"qty": 0}]}"#)))
        #expect(failure.instancePointer == "/lines/1/qty" && failure.schemaPointer == "#/$defs/line/properties/qty/minimum")
        #expect(order.validate(try value(#"{"lines": []}"#))?.message == "'id' is missing")
        let recursive = try schema(##"{"$ref": "#"}"##)
        #expect(recursive.validate(.null)?.message == "references nest too deep", "a reference loop is bounded")
        let long = try schema(#"{"pattern": "^a"}"#)
        #expect(long.accepts(.string(String(repeating: "a", count: 1024))) && !long.accepts(.string(String(repeating: "a", count: 1025))))
    }

    /// Our validator against Python's `jsonschema` (Draft202012Validator, Debian's
    /// python3-jsonschema) on generated documents: every verdict must agree.
    @Test func agreesWithPythonJsonschemaOnGeneratedDocuments() async throws {
        let schemas = [
            #"{"type":"object","properties":{"a":{"type":"integer","minimum":0,"maximum":3},"b":{"type":"string","minLength":1,"maxLength":2}},"required":["a"]}"#,
            #"{"type":["string","null"],"pattern":"^a+b?$"}"#,
            #"{"type":"array","prefixItems":[{"type":"number"},{"type":"string"}],"items":{"type":"boolean"},"minItems":1,"maxItems":3}"#,
            #"{"enum":[1,"a",null,[1,2],{"a":1},false]}"#,
            #"{"const":{"a":1}}"#,
            #"{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":3}"#,
            #"{"anyOf":[{"type":"string"},{"type":"integer","minimum":2}]}"#,
            #"{"oneOf":[{"type":"number","minimum":1},{"type":"integer","maximum":2}]}"#,
            #"{"allOf":[{"type":"object"},{"required":["b"]}],"not":{"required":["c"]}}"#,
            #"{"type":"object","additionalProperties":false,"properties":{"a":true,"id":{"type":"string"}}}"#,
            #"{"type":"object","additionalProperties":{"type":"number"}}"#,
            ##"{"$defs":{"node":{"type":"object","properties":{"n":{"type":"number"},"c":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},"$ref":"#/$defs/node"}"##,
            #"{"items":false,"prefixItems":[true]}"#,
            #"{"type":"integer"}"#,
            #"{"not":{"type":["object","array"]},"minLength":2}"#,
            #"{"properties":{"a":{"const":null}},"required":["a","b"],"title":"x","description":"y","examples":[1],"default":{},"format":"date"}"#,
            #"{"type":"string","pattern":"[0-9]"}"#,
            #"{"minItems":2,"items":{"enum":[0,1,"a"]}}"#,
            "false",
            "true",
            #"{"oneOf":[{"required":["a"]},{"required":["b"]}]}"#,
            #"{"type":"object","properties":{"id":{"type":"string","minLength":2},"n":{"type":["integer","boolean"]}},"additionalProperties":{"type":"array","maxItems":1}}"#,
        ]
        var random = SplitMix64(state: 20_261_203)
        var cases: [(schema: String, instances: [String])] = []
        for text in schemas {
            cases.append((text, (0..<120).map { _ in Self.randomJSON(&random, depth: 0) }))
        }
        let input = "[" + cases.map { #"{"schema":\#($0.schema),"instances":[\#($0.instances.joined(separator: ","))]}"# }.joined(separator: ",") + "]"
        let path = NSTemporaryDirectory() + "lookout-schema-cases-\(UUID().uuidString).json"
        try input.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let script = """
            import json, sys
            from jsonschema import Draft202012Validator
            cases = json.load(open(sys.argv[1]))
            print(json.dumps([[Draft202012Validator(c["schema"]).is_valid(i) for i in c["instances"]] for c in cases]))
            """
        let python = try await runCommand("/usr/bin/python3", ["-c", script, path])
        #expect(python.status == 0, "python3-jsonschema (make test installs it): \(python.output.prefix(500))")
        guard python.status == 0 else { return }
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(python.output.utf8)) as? [[Bool]])
        var disagreements: [String] = []
        var valid = 0, invalid = 0
        for (index, entry) in cases.enumerated() {
            let compiled = try schema(entry.schema)
            for (position, instance) in entry.instances.enumerated() {
                let ours = compiled.accepts(try value(instance))
                if ours { valid += 1 } else { invalid += 1 }
                if ours != theirs[index][position] { disagreements.append("\(entry.schema) on \(instance): ours \(ours)") }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements: \(disagreements.prefix(5))")
        #expect(valid > 400 && invalid > 400, "the documents exercise both verdicts: \(valid) valid, \(invalid) invalid")
    }

    /// A small JSON document from a deliberately narrow vocabulary (so the schemas' edges are hit).
    static func randomJSON(_ random: inout SplitMix64, depth: Int, keys: [String] = ["a", "b", "c", "id", "n"],
                           strings: [String] = ["", "a", "ab", "aab", "abc", "x1", "1", "é"]) -> String {
        let numbers = ["-1", "0", "0.5", "1", "1.0", "2", "3", "3.0", "10", "-0.5", "1e2"]
        switch Int(random.next() % (depth >= 3 ? 4 : 6)) {
        case 0: return numbers[Int(random.next() % UInt64(numbers.count))]
        case 1: return "\"" + strings[Int(random.next() % UInt64(strings.count))] + "\""
        case 2: return ["true", "false", "null"][Int(random.next() % 3)]
        case 3: return numbers[Int(random.next() % UInt64(numbers.count))]
        case 4: return "[" + (0..<Int(random.next() % 4)).map { _ in randomJSON(&random, depth: depth + 1, keys: keys, strings: strings) }.joined(separator: ",") + "]"
        default:
            let chosen = keys.shuffled(using: &random).prefix(Int(random.next() % 4))
            return "{" + chosen.map { "\"\($0)\":" + randomJSON(&random, depth: depth + 1, keys: keys, strings: strings) }.joined(separator: ",") + "}"
        }
    }
}
