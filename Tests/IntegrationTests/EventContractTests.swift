#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RESP
import Testing
import LookoutTestSupport

/// Event contracts end to end, configured as users configure them: two publishers on a
/// contracted channel — one skips two sequence numbers and re-sends three events — four
/// messages that break the contract four ways, and a channel with no contract; on the relay and
/// on a real redis-server.
@Suite(.serialized) struct EventContractIntegrationTests {
    private static let schema = #"""
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["amount"],
         "properties": {"amount": {"type": "number", "minimum": 0}, "currency": {"enum": ["EUR", "USD"]}}}
        """#

    /// The same contract as an AsyncAPI 3.0 document: the orders channel parameterised, a
    /// message `$ref`'d from components, its payload in a relative file (YAML, with a draft-07
    /// `definitions`), and a second channel with a message of its own.
    private static let asyncAPI = #"""
        asyncapi: 3.0.0
        info: {title: Shop events, version: 1.0.0}
        channels:
          orders:
            address: "orders.{event}"
            parameters:
              event: {description: What happened to the order.}
            x-lookout-require-schema: true
            x-lookout-sequence: true
            x-lookout-duplicates: 10m
            messages:
              orderCreated: {$ref: "#/components/messages/OrderCreated"}
              orderCancelled:
                name: com.example.order.cancelled
                contentType: application/cloudevents+json
                payload: {type: object, required: [reason]}
          audit:
            address: audit
            messages:
              auditRecord:
                payload: {type: object, required: [actor], properties: {actor: {type: string}}}
        components:
          messages:
            OrderCreated:
              name: com.example.order.created
              contentType: application/cloudevents+json
              payload: {$ref: "schemas/order.yaml"}
        """#

    private static let orderYAML = #"""
        type: object
        required: [amount]
        properties:
          amount: {$ref: "#/definitions/Amount"}
          currency: {enum: [EUR, USD]}
        definitions:
          Amount: {type: number, minimum: 0}
        """#

    /// The configuration file and its schema in a fresh directory (the schema named relative to
    /// it); with `asyncAPI`, the contract comes from the AsyncAPI document instead.
    private func configuration(extra: String = "", asyncAPI: Bool = false) throws -> (path: String, directory: String) {
        let directory = NSTemporaryDirectory() + "lookout-contracts-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/schemas", withIntermediateDirectories: true)
        try Self.schema.write(toFile: directory + "/schemas/order-created.json", atomically: true, encoding: .utf8)
        try Self.asyncAPI.write(toFile: directory + "/shop.asyncapi.yaml", atomically: true, encoding: .utf8)
        try Self.orderYAML.write(toFile: directory + "/schemas/order.yaml", atomically: true, encoding: .utf8)
        try (asyncAPI ? "contracts:\n  - asyncapi: shop.asyncapi.yaml\n" + extra : """
            contracts:
              - channels: "orders.*"
                format: cloudevents
                schemas:
                  com.example.order.created: schemas/order-created.json
                require_schema: true
                sequence: true
                duplicates: 10m
            \(extra)
            """).write(toFile: directory + "/lookout.yaml", atomically: true, encoding: .utf8)
        return (directory + "/lookout.yaml", directory)
    }

    private static func event(source: String, id: String, sequence: Int, amount: Int = 5) -> String {
        #"{"specversion":"1.0","id":"\#(id)","source":"\#(source)","type":"com.example.order.created","sequence":"\#(sequence)","data":{"amount":\#(amount),"currency":"EUR"}}"#
    }

    /// Publishes the scenario on `port` and returns once every PUBLISH was answered.
    private func publishScenario(port: Int) async throws {
        try await offThePool {
            var messages: [(channel: String, payload: String)] = []
            // Publisher A: 1…10, all there.
            for n in 1...10 { messages.append(("orders.created", Self.event(source: "/shop/a", id: "a-\(n)", sequence: n))) }
            // Publisher B: 1…10 without 4 and 5, and 6, 7, 8 sent twice (a retry after a timeout).
            for n in [1, 2, 3, 6, 7, 8, 9, 10] { messages.append(("orders.created", Self.event(source: "/shop/b", id: "b-\(n)", sequence: n))) }
            for n in [6, 7, 8] { messages.append(("orders.created", Self.event(source: "/shop/b", id: "b-\(n)", sequence: n))) }
            // Four broken messages, four ways.
            messages.append(("orders.created", "order 42 created"))
            messages.append(("orders.created", #"{"specversion":"1.0","source":"/shop/a","type":"com.example.order.created","data":{"amount":1}}"#))
            messages.append(("orders.created", #"{"specversion":"1.0","id":17,"source":"/shop/a","type":"com.example.order.created","data":{"amount":1}}"#))
            messages.append(("orders.created", Self.event(source: "/shop/a", id: "a-bad", sequence: 11, amount: -3)))
            // No contract: never judged.
            messages.append(("payments", "not json at all"))
            let connection = try TestConnection(port: port)
            var pipeline: [UInt8] = []
            for message in messages {
                pipeline += ScriptStep.encode([Array("PUBLISH".utf8), Array(message.channel.utf8), Array(message.payload.utf8)])
            }
            try connection.send(pipeline)
            _ = try connection.readValues(messages.count)
        }
    }

    private func expectScenario(_ lookout: InProcessLookout) async throws {
        func sample(_ metrics: String, _ series: String) -> Double? { MonitorIntegrationTests.sample(metrics, series) }
        var metrics = ""
        // Holes settle after the 5 s reorder window, at a refresh.
        let settled = await eventually(seconds: 20) {
            metrics = (try? await lookout.get("/metrics").body) ?? ""
            return sample(metrics, #"lookout_channel_sequence_gaps_total{channel="orders.created"}"#) == 2
        }
        #expect(settled != nil, "two events missing from /shop/b")
        for reason in ["not_json", "missing_attribute", "wrong_type", "schema_violation"] {
            #expect(sample(metrics, #"lookout_channel_invalid_messages_total{channel="orders.created",reason="\#(reason)"}"#) == 1, "\(reason)")
        }
        for reason in ["too_large", "unknown_type"] {
            #expect(sample(metrics, #"lookout_channel_invalid_messages_total{channel="orders.created",reason="\#(reason)"}"#) == 0, "\(reason)")
        }
        #expect(sample(metrics, #"lookout_channel_duplicate_messages_total{channel="orders.created"}"#) == 3)
        #expect(sample(metrics, #"lookout_channel_out_of_order_messages_total{channel="orders.created"}"#) == 0, "a re-send is not a reorder")
        #expect(sample(metrics, #"lookout_publisher_restarts_total{channel="orders.created"}"#) == 0)
        #expect(sample(metrics, #"lookout_channel_unvalidated_messages_total{channel="orders.created"}"#) == 0)
        #expect(sample(metrics, #"lookout_channel_event_types_total{channel="orders.created",type="com.example.order.created",version=""}"#) == 21,
                "10 + 8 events and 3 re-sends, all valid")
        #expect(sample(metrics, #"lookout_channel_messages_total{channel="payments"}"#) == 1)
        #expect(!metrics.contains(#"lookout_channel_invalid_messages_total{channel="payments""#), "a channel with no contract is never judged")
        #expect(sample(metrics, "lookout_integrity_sources_tracked") == 2)
        let check = try await runCommand(try executable("promtool"), ["check", "metrics"], input: metrics)
        #expect(check.status == 0, "promtool check metrics: \(check.output)")
    }

    /// What `lookout violations` and `lookout channels` print from the database the run wrote.
    private func expectRecorded(_ lookout: InProcessLookout) async throws {
        let database = try #require(lookout.databasePath)
        let binary = try LookoutProcess.binary
        var violations: [[String: Any]] = []
        var orders: [String: Any] = [:]
        let recorded = await eventually(seconds: 15) {
            let listed = try? await runCommand(binary, ["violations", "--db", database, "--format", "json"]).output
            let channels = try? await runCommand(binary, ["channels", "--db", database, "--format", "json", "--since", "10m"]).output
            violations = (try? JSONSerialization.jsonObject(with: Data((listed ?? "").utf8))) as? [[String: Any]] ?? []
            let rows = (try? JSONSerialization.jsonObject(with: Data((channels ?? "").utf8))) as? [[String: Any]] ?? []
            orders = rows.first { $0["channel"] as? String == "orders.created" } ?? [:]
            return violations.count == 4 && orders["sequence_gaps"] as? Int == 2
        }
        #expect(recorded != nil, "\(violations) \(orders)")
        #expect(Set(violations.compactMap { $0["reason"] as? String }) == ["not_json", "missing_attribute", "wrong_type", "schema_violation"])
        let schema = violations.first { $0["reason"] as? String == "schema_violation" }
        #expect(schema?["pointer"] as? String == "/data/amount" && schema?["id"] as? String == "a-bad" && schema?["source"] as? String == "/shop/a")
        #expect((schema?["payload"] as? String)?.contains(#""amount":-3"#) == true)
        #expect(orders["invalid"] as? Int == 4 && orders["duplicates"] as? Int == 3, "\(orders)")
        let payments = try await runCommand(binary, ["violations", "payments", "--db", database, "--format", "json"]).output
        let paymentRows = (try? JSONSerialization.jsonObject(with: Data(payments.utf8))) as? [Any]
        #expect(paymentRows?.isEmpty == true, "no violation on a channel without a contract: \(payments)")
        let table = try await runCommand(binary, ["violations", "orders.created", "--db", database, "--reason", "wrong_type"])
        #expect(table.status == 0 && table.output.split(separator: "\n").count == 2 && table.output.contains("wrong_type"), "\(table.output)")
    }

    @Test(.timeLimit(.minutes(1))) func onTheRelay() async throws {
        let (path, directory) = try configuration()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lookout = try await InProcessLookout(arguments: ["--config", path])
        try await publishScenario(port: lookout.port)
        try await expectScenario(lookout)
        try await expectRecorded(lookout)
        try await lookout.stop()
    }

    /// Issue 31: the relay scenario with its contract read from an AsyncAPI document: the same counts.
    @Test(.timeLimit(.minutes(1))) func onTheRelayFromAnAsyncAPIDocument() async throws {
        let (path, directory) = try configuration(asyncAPI: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lookout = try await InProcessLookout(arguments: ["--config", path])
        let listed = try await lookout.get("/api/v1/contracts")
        let contracts = (try? JSONSerialization.jsonObject(with: Data(listed.body.utf8))) as? [[String: Any]] ?? []
        #expect(contracts.compactMap { $0["channels"] as? String } == ["audit", "orders.*"], "\(listed.body)")
        let orders = contracts.first { $0["channels"] as? String == "orders.*" }
        #expect(orders?["format"] as? String == "cloudevents" && orders?["origin"] as? String == directory + "/shop.asyncapi.yaml#/channels/orders")
        #expect(orders?["types"] as? [String] == ["com.example.order.cancelled", "com.example.order.created", "orderCancelled", "orderCreated"])
        #expect(orders?["require_schema"] as? Bool == true && orders?["sequence"] as? Bool == true && orders?["duplicates_seconds"] as? Double == 600)
        try await publishScenario(port: lookout.port)
        try await expectScenario(lookout)
        try await expectRecorded(lookout)
        try await lookout.stop()
    }

    @Test(.timeLimit(.minutes(1))) func onARedisSource() async throws {
        let redis = try RedisServer()
        let (path, directory) = try configuration()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = "redis://127.0.0.1:\(redis.port)"
        let lookout = try await InProcessLookout(arguments: ["--config", path, "--no-relay", "--redis", source])
        let ready = await eventually(seconds: 30) { (try? await lookout.get("/readyz").status) == 200 }
        #expect(ready != nil)
        try await publishScenario(port: redis.port)
        try await expectScenario(lookout)
        try await expectRecorded(lookout)
        try await lookout.stop()
    }

    @Test func aContractThatCannotBeUsedStopsTheStartWithItsKey() throws {
        let (path, directory) = try configuration()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cases: [(schema: String?, config: String?, message: String)] = [
            (#"{"type": "object", "uniqueItems": true}"#, nil, "contracts[0].schemas.com.example.order.created: '\(directory)/schemas/order-created.json' at '#/uniqueItems': keyword 'uniqueItems' is not supported"),
            ("{not json", nil, "is not JSON"),
            (nil, "  - channels: \"orders.created\"\n    format: json\n", "contracts[1].channels"),
            (nil, "  - channels: \"audit\"\n    format: avro\n", "'avro' is not a format"),
        ]
        for entry in cases {
            if let schema = entry.schema { try schema.write(toFile: directory + "/schemas/order-created.json", atomically: true, encoding: .utf8) }
            if let extra = entry.config {
                try Self.schema.write(toFile: directory + "/schemas/order-created.json", atomically: true, encoding: .utf8)
                let text = try String(contentsOfFile: path, encoding: .utf8)
                try (text + extra).write(toFile: path + ".extra.yaml", atomically: true, encoding: .utf8)
            }
            let lookout = try ChildProcess(try LookoutProcess.binary, [
                "serve", "--relay", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--no-db", "--config", entry.config == nil ? path : path + ".extra.yaml",
            ])
            #expect(lookout.waitForExit(seconds: 20) == 2, "\(entry.message)")
            #expect(lookout.output().contains(entry.message), "\(lookout.output())")
        }
    }

    /// Issue 31: an AsyncAPI document Lookout cannot use stops the start, exit 2, with its key
    /// and the place in the document.
    @Test func anAsyncAPIDocumentThatCannotBeUsedStopsTheStartWithItsPlace() async throws {
        let (path, directory) = try configuration(asyncAPI: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let document = directory + "/shop.asyncapi.yaml"
        let cases: [(document: String, message: String)] = [
            ("openapi: 3.0.0\npaths: {}\n", "contracts[0].asyncapi: \(document) at '#': not an AsyncAPI document"),
            ("asyncapi: 3.0.0\nchannels:\n  orders:\n    messages: {}\n", "at '#/channels/orders/address': the channel has no address"),
            ("asyncapi: 3.0.0\nchannels:\n  orders:\n    address: orders\n    messages:\n      created: {$ref: '#/components/messages/Gone'}\n",
             "at '#/channels/orders/messages/created/$ref': $ref '#/components/messages/Gone' leads nowhere"),
            ("asyncapi: 3.0.0\nchannels:\n  orders:\n    address: orders\n    messages:\n      created: {payload: {$ref: '#/components/schemas/A'}}\n"
             + "components:\n  schemas:\n    A: {$ref: '#/components/schemas/B'}\n    B: {$ref: '#/components/schemas/A'}\n", "$ref loops"),
        ]
        for entry in cases {
            try entry.document.write(toFile: document, atomically: true, encoding: .utf8)
            let lookout = try ChildProcess(try LookoutProcess.binary, [
                "serve", "--relay", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--no-db", "--config", path,
            ])
            let status = await lookout.waitForExit(seconds: 20)
            #expect(status == 2, "\(entry.message)")
            #expect(lookout.output().contains(entry.message), "\(lookout.output())")
        }
    }
}
