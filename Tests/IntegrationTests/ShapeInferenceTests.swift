import Foundation
import LookoutCore
import LookoutTestSupport
import RESP
import Testing

/// Issue 31: a contract drawn from live traffic. Payload shapes inferred on a channel without a
/// contract, a field new after the shape settled counted once, and `lookout contracts infer`
/// printing a schema from the store that accepts every message seen.
@Suite struct ShapeInferenceTests {
    private static let shapes = [
        #"{"id":"4b7c6f2e-1d2a-4c3b-9e8f-0a1b2c3d4e5f","kind":"click","at":"2026-12-07T10:00:00Z","x":3,"y":4}"#,
        #"{"id":"9b7c6f2e-1d2a-4c3b-9e8f-0a1b2c3d4e5f","kind":"view","at":"2026-12-07T10:00:01Z","page":{"path":"/","ms":12.5}}"#,
        #"{"id":"1b7c6f2e-1d2a-4c3b-9e8f-0a1b2c3d4e5f","kind":"buy","at":"2026-12-07T10:00:02Z","items":[{"sku":"a","qty":1}],"total":10}"#,
    ]
    private static let withNewField = #"{"id":"2b7c6f2e-1d2a-4c3b-9e8f-0a1b2c3d4e5f","kind":"click","at":"2026-12-07T10:00:03Z","x":1,"y":2,"session":"s-1"}"#

    private func publish(_ payloads: [String], port: Int) async throws {
        try await offThePool {
            let connection = try TestConnection(port: port)
            var pipeline: [UInt8] = []
            for payload in payloads { pipeline += ScriptStep.encode([Array("PUBLISH".utf8), Array("telemetry".utf8), Array(payload.utf8)]) }
            try connection.send(pipeline)
            _ = try connection.readValues(payloads.count)
        }
    }

    @Test(.timeLimit(.minutes(3))) func tenThousandMessagesOfThreeShapesThenANewFieldOnTheRelay() async throws {
        let database = "/tmp/lookout-shapes-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).db"
        defer { removeDatabase(database) }
        let lookout = try await InProcessLookout(arguments: ["--infer-shapes", "--db", database])
        try await expectInference(lookout, port: lookout.port)
        try await lookout.stop()

        // After a restart the shape is taken back from the store: the known field is not a
        // change, a new one is at once, and what is stored next still holds the first run's fields.
        let again = try await InProcessLookout(arguments: ["--infer-shapes", "--db", database])
        let binary = try LookoutProcess.binary
        let before = try await runCommand(binary, ["contracts", "infer", "telemetry", "--db", database]).output
        var counted = await eventually(seconds: 20) {
            try? await publish([Self.withNewField, #"{"id":"x","kind":"click","at":"t","x":1,"y":2,"region":"eu"}"#], port: again.port)
            return MonitorIntegrationTests.sample((try? await again.get("/metrics").body) ?? "", #"lookout_channel_shape_changes_total{channel="telemetry"}"#) == 1
        }
        #expect(counted != nil, "a new field right after the restart is a change")
        var after = ""
        counted = await eventually(seconds: 20) {
            after = (try? await runCommand(binary, ["contracts", "infer", "telemetry", "--db", database]))?.output ?? ""
            return after.contains("\"region\"")
        }
        #expect(counted != nil && after.contains("\"page\"") && after.contains("\"session\"") && after != before, "\(after)")
        try await again.stop()
    }

    @Test(.timeLimit(.minutes(3))) func tenThousandMessagesOfThreeShapesThenANewFieldOnARedisSource() async throws {
        let redis = try RedisServer()
        let lookout = try await InProcessLookout(arguments: ["--infer-shapes", "--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)"])
        let ready = await eventually(seconds: 30) { (try? await lookout.get("/readyz").status) == 200 }
        #expect(ready != nil)
        try await expectInference(lookout, port: redis.port)
        try await lookout.stop()
    }

    private func expectInference(_ lookout: InProcessLookout, port: Int) async throws {
        let database = try #require(lookout.databasePath)
        func changes() async -> Double? {
            MonitorIntegrationTests.sample((try? await lookout.get("/metrics").body) ?? "", #"lookout_channel_shape_changes_total{channel="telemetry"}"#)
        }
        // 10,000 messages over about 3.5 s: the sampling (100 a second per channel) sees the
        // three shapes several hundred times, enough for the shape to settle.
        for batch in 0..<10 {
            try await publish((0..<1000).map { Self.shapes[($0 + batch) % 3] }, port: port)
            try await Task.sleep(for: .milliseconds(350))
        }
        #expect(await changes() == 0, "no change while the three shapes were learnt (the series is there from the first sample)")
        let counted = await eventually(seconds: 20) {
            try? await publish(Array(repeating: Self.withNewField, count: 20), port: port)
            return await changes() == 1
        }
        #expect(counted != nil, "the new field counted as a shape change")
        try await publish(Array(repeating: Self.withNewField, count: 500), port: port)
        try await Task.sleep(for: .milliseconds(1500))
        try await publish(Array(repeating: Self.withNewField, count: 500), port: port)
        #expect(await changes() == 1, "the same field again is not another change")
        // Quiet samples enough for the shape to have settled again (100 in a row; at most 100 a
        // second are sampled, fewer while the monitor's queue is busy): the stop hands it to the
        // store settled, and a field new after a restart is a change at once.
        for _ in 0..<3 {
            try await publish(Array(repeating: Self.withNewField, count: 100), port: port)
            try await Task.sleep(for: .milliseconds(1100))
        }

        // The schema, from the database.
        let binary = try LookoutProcess.binary
        var inferred = ""
        let stored = await eventually(seconds: 20) {
            inferred = (try? await runCommand(binary, ["contracts", "infer", "telemetry", "--db", database]))?.output ?? ""
            return inferred.contains("\"session\"")
        }
        #expect(stored != nil, "lookout contracts infer: \(inferred)")
        let schema = try JSONSchema(try JSONValue.parse(Array(inferred.utf8), maxDepth: 128))
        for message in Self.shapes + [Self.withNewField] {
            #expect(schema.accepts(try JSONValue.parse(Array(message.utf8))), "\(message) against \(inferred)")
        }
        let directory = NSTemporaryDirectory() + "lookout-infer-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try inferred.write(toFile: directory + "/telemetry.json", atomically: true, encoding: .utf8)
        let python = try await runCommand("/usr/bin/python3", ["-c", """
            import json, sys
            from jsonschema import Draft202012Validator
            validator = Draft202012Validator(json.load(open(sys.argv[1])))
            print(all(validator.is_valid(json.loads(line)) for line in sys.stdin.read().splitlines()))
            """, directory + "/telemetry.json"], input: (Self.shapes + [Self.withNewField]).joined(separator: "\n"))
        #expect(python.output.trimmingCharacters(in: .whitespacesAndNewlines) == "True", "python3-jsonschema: \(python.output)")
        let diff = try await runCommand(binary, ["contracts", "diff", directory + "/telemetry.json", directory + "/telemetry.json"])
        #expect(diff.status == 0 && diff.output.contains("no change"), "\(diff.output)")
    }

    @Test func aChannelWithNoShapeIsAKeyedError() async throws {
        let lookout = try await InProcessLookout(arguments: ["--infer-shapes"])
        let database = try #require(lookout.databasePath)
        let result = try await runCommand(try LookoutProcess.binary, ["contracts", "infer", "nothing-here", "--db", database])
        #expect(result.status != 0 && result.output.contains("no shape was inferred on 'nothing-here'"), "\(result.output)")
        try await lookout.stop()
    }
}
