import Foundation
import LookoutTestSupport
import Testing

/// `lookout contracts diff` as a deploy pipeline runs it: files in, verdicts out, an exit status.
@Suite struct ContractsDiffCommandTests {
    private func files(_ schemas: [String: String]) throws -> String {
        let directory = NSTemporaryDirectory() + "lookout-contracts-diff-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, text) in schemas { try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
        return directory
    }

    /// Issue 31: two AsyncAPI documents in YAML, their payloads in a relative file, compared
    /// message by message.
    @Test func twoAsyncAPIDocumentsAreComparedMessageByMessage() async throws {
        let directory = try files([
            "v1.yaml": """
                asyncapi: 3.0.0
                channels:
                  orders:
                    address: orders
                    messages:
                      created: {payload: {$ref: "order-v1.yaml"}}
                """,
            "v2.yaml": """
                asyncapi: 3.0.0
                channels:
                  orders:
                    address: orders
                    messages:
                      created: {payload: {$ref: "order-v2.yaml"}}
                """,
            "order-v1.yaml": "type: object\nproperties:\n  note: {type: string}\nrequired: [amount]\n",
            "order-v2.yaml": "type: object\nproperties:\n  note: {type: string}\nrequired: [amount, currency]\n",
            "schema.json": #"{"type": "object"}"#,
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = try LookoutProcess.binary
        let publishers = try await runCommand(binary, ["contracts", "diff", directory + "/v1.yaml", directory + "/v2.yaml", "--for", "publishers"])
        #expect(publishers.status == 1, "currency now required breaks publishers: \(publishers.output)")
        #expect(publishers.output.contains("/channels/orders/messages/created/payload/required") && publishers.output.contains("breaks publishers"))
        #expect(publishers.output.contains("at /channels/orders/messages/created/payload: {"), "the witness and its message: \(publishers.output)")
        let consumers = try await runCommand(binary, ["contracts", "diff", directory + "/v1.yaml", directory + "/v2.yaml"])
        #expect(consumers.status == 0, "nothing breaks consumers: \(consumers.output)")
        let mixed = try await runCommand(binary, ["contracts", "diff", directory + "/v1.yaml", directory + "/schema.json"])
        #expect(mixed.status == 2 && mixed.output.contains("compare like with like"), "\(mixed.output)")
    }

    @Test func theExitStatusSaysWhetherTheChangeBreaksTheSideJudged() async throws {
        let directory = try files([
            "v1.json": #"{"type": "object", "properties": {"currency": {"enum": ["EUR", "USD"]}}, "required": ["currency"]}"#,
            "v2.json": #"{"type": "object", "properties": {"currency": {"enum": ["EUR", "USD", "GBP"]}}, "required": ["currency"], "description": "v2"}"#,
            "v3.json": #"{"type": "object", "properties": {"currency": {"type": "string", "pattern": "^[A-Z]{3}$"}}}"#,
            "v4.json": #"{"type": "object", "properties": {"currency": {"type": "string", "pattern": "^[A-Z]+$"}}}"#,
            "broken.json": #"{"type": "object", "uniqueItems": true}"#,
            "notjson.json": "{",
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = try LookoutProcess.binary
        func diff(_ arguments: String...) async throws -> (status: Int32?, output: String) {
            try await runCommand(binary, ["contracts", "diff"] + arguments.map { $0.hasSuffix(".json") ? directory + "/" + $0 : $0 })
        }
        let added = try await diff("v1.json", "v2.json")
        #expect(added.status == 1, "a value added breaks consumers: \(added.output)")
        #expect(added.output.contains("/properties/currency/enum") && added.output.contains("breaks consumers"), "\(added.output)")
        #expect(added.output.contains("/description") && added.output.contains("compatible"), "\(added.output)")
        #expect(try await diff("v1.json", "v2.json", "--for", "publishers").status == 0, "nothing a v1 publisher sends is refused by v2")
        #expect(try await diff("v2.json", "v1.json").status == 0, "removing a value breaks publishers, not consumers")
        #expect(try await diff("v2.json", "v1.json", "--for", "both").status == 1)
        let json = try await diff("v1.json", "v2.json", "--format", "json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "\(json.output)")
        #expect(object["breaks_consumers"] as? Bool == true && object["breaks_publishers"] as? Bool == false)
        #expect((object["changes"] as? [[String: Any]])?.count == 2)
        #expect((object["consumer_witness"] as? [String: Any])?["currency"] as? String == "GBP", "\(json.output)")
        #expect(object["publisher_witness"] is NSNull)
        #expect(added.output.contains(#"(valid under NEW, invalid under OLD): {"currency":"GBP"}"#), "\(added.output)")
        // One pattern for another: which strings each accepts cannot be told apart keyword by keyword.
        let judged = try await diff("v3.json", "v4.json")
        #expect(judged.status == 2, "\(judged.output)")
        #expect(try await diff("v1.json", "v1.json").output.contains("no change"))
        let broken = try await diff("v1.json", "broken.json")
        #expect(broken.status == 2 && broken.output.contains("broken.json") && broken.output.contains("uniqueItems"), "\(broken.output)")
        let notJSON = try await diff("notjson.json", "v1.json")
        #expect(notJSON.status == 2 && notJSON.output.contains("not a JSON document"), "\(notJSON.output)")
        #expect(try await diff("v1.json", "v2.json", "--for", "nobody").status == 2)
    }
}
