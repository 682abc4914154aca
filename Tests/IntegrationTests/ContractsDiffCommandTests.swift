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
