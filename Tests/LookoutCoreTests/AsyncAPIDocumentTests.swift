import LookoutCore
import Testing

@Suite struct AsyncAPIDocumentTests {
    /// Files by path, read through the document's loader; counts the reads.
    private final class Files: @unchecked Sendable {
        var texts: [String: String]
        var reads: [String] = []
        init(_ texts: [String: String]) { self.texts = texts }

        func load(_ path: String) throws(AsyncAPIDocument.Problem) -> JSONValue {
            reads.append(path)
            guard let text = texts[path] else { throw .init(file: path, pointer: "", reason: "cannot read '\(path)'") }
            do { return try JSONValue.parse(Array(text.utf8)) } catch { throw .init(file: path, pointer: "", reason: "not JSON") }
        }

        func document(_ path: String) throws(AsyncAPIDocument.Problem) -> AsyncAPIDocument {
            try AsyncAPIDocument(file: path, root: try load(path), load: load)
        }
    }

    private static let version3 = #"""
        {"asyncapi": "3.0.0", "info": {"title": "Shop", "version": "1"},
         "channels": {
           "orders": {"address": "orders.{event}", "parameters": {"event": {}},
                      "x-lookout-format": "cloudevents", "x-lookout-require-schema": true, "x-lookout-sequence": true, "x-lookout-duplicates": "10m",
                      "messages": {"orderCreated": {"$ref": "#/components/messages/OrderCreated"},
                                   "orderCancelled": {"name": "com.example.order.cancelled",
                                                      "payload": {"type": "object", "required": ["reason"], "x-internal": true}}}},
           "audit": {"address": "audit", "messages": {"auditRecord": {"payload": {"$ref": "schemas/audit.json"}}}}},
         "components": {
           "messages": {"OrderCreated": {"name": "com.example.order.created", "contentType": "application/cloudevents+json",
                                         "payload": {"$ref": "#/components/schemas/Order"}}},
           "schemas": {"Order": {"type": "object", "required": ["amount"], "discriminator": "kind",
                                 "properties": {"amount": {"$ref": "schemas/money.json#/definitions/Amount"}, "currency": {"enum": ["EUR", "USD"]}}}}}}
        """#

    private func judge(_ contract: EventContract, _ payload: String) -> ContractViolationReason? {
        if case .violated(let violation) = contract.judge(Array(payload.utf8)) { return violation.reason }
        return nil
    }

    private func cloudEvent(type: String, data: String) -> String {
        #"{"specversion":"1.0","id":"e1","source":"/shop","sequence":"1","type":"\#(type)","data":\#(data)}"#
    }

    @Test func aVersion3DocumentIsOneContractPerChannelWithItsReferencesFollowed() throws {
        let files = Files(["/docs/shop.json": Self.version3,
                           "/docs/schemas/money.json": #"{"definitions": {"Amount": {"type": "number", "minimum": 0}}}"#,
                           "/docs/schemas/audit.json": #"{"type": "object", "required": ["actor"], "properties": {"actor": {"type": "string"}}}"#])
        let document = try files.document("/docs/shop.json")
        #expect(document.version == "3.0.0")
        #expect(document.channels.map(\.address) == ["audit", "orders.{event}"])
        #expect(Set(files.reads) == ["/docs/shop.json", "/docs/schemas/money.json", "/docs/schemas/audit.json"] && files.reads.count == 3,
                "each file read once: \(files.reads)")

        let orders = try #require(document.channels.first { $0.id == "orders" }).contract
        #expect(orders.channels == "orders.*" && orders.format == .cloudevents && orders.origin == "/docs/shop.json#/channels/orders")
        #expect(orders.requireSchema && orders.checksSequence && orders.duplicateWindow == 600)
        #expect(Set(orders.schemas.keys) == ["orderCreated", "com.example.order.created", "orderCancelled", "com.example.order.cancelled"])
        #expect(judge(orders, cloudEvent(type: "com.example.order.created", data: #"{"amount": 5, "currency": "EUR"}"#)) == nil)
        #expect(judge(orders, cloudEvent(type: "com.example.order.created", data: #"{"amount": -3}"#)) == .schemaViolation,
                "the amount's minimum comes from the relative file")
        #expect(judge(orders, cloudEvent(type: "com.example.order.created", data: #"{"amount": 1, "currency": "GBP"}"#)) == .schemaViolation)
        #expect(judge(orders, cloudEvent(type: "orderCancelled", data: #"{"reason": "late"}"#)) == nil, "a message's id names it too")
        #expect(judge(orders, cloudEvent(type: "com.example.order.cancelled", data: #"{"amount": 5}"#)) == .schemaViolation)
        #expect(judge(orders, cloudEvent(type: "com.example.order.shipped", data: "{}")) == .unknownType)

        let audit = try #require(document.channels.first { $0.id == "audit" }).contract
        #expect(audit.channels == "audit" && audit.format == .json && !audit.requireSchema && audit.duplicateWindow == nil)
        #expect(judge(audit, #"{"actor": "ops"}"#) == nil)
        #expect(judge(audit, #"{"actor": 7}"#) == .schemaViolation)
        #expect(judge(audit, "{}") == .schemaViolation, "an event naming no type is checked against the channel's one message")
    }

    @Test func aVersion26DocumentReadsOneOfMessagesAndDraft07Keywords() throws {
        let files = Files(["/p.json": #"""
            {"asyncapi": "2.6.0", "info": {"title": "Payments", "version": "1"},
             "channels": {"payments/{id}": {"subscribe": {"message": {"oneOf": [
                 {"messageId": "paid", "payload": {"type": "object", "required": ["kind", "amount"],
                                                    "properties": {"kind": {"const": "paid"}, "amount": {"$ref": "#/components/schemas/Money/definitions/positive"}},
                                                    "dependencies": {"refund": ["reason"], "note": {"required": ["author"]}}}},
                 {"$ref": "#/components/messages/Pair"}]}},
               "publish": {"message": {"$ref": "#/components/messages/Pair"}}}},
             "components": {"messages": {"Pair": {"name": "pair", "schemaFormat": "application/schema+json;version=draft-07",
                                                  "payload": {"type": "array", "items": [{"type": "string"}, {"type": "number"}], "additionalItems": false}}},
                            "schemas": {"Money": {"definitions": {"positive": {"type": "number", "exclusiveMinimum": 0}}}}}}
            """#])
        let document = try files.document("/p.json")
        let channel = try #require(document.channels.first)
        #expect(document.channels.count == 1 && channel.contract.channels == "payments/*")
        #expect(channel.messages.map(\.names) == [["paid"], ["pair"]], "a message named by both operations is one message")
        let payments = channel.contract
        #expect(payments.format == .json && payments.fields.type == nil)
        // No type field: an event is valid when it is one of the channel's messages.
        #expect(judge(payments, #"{"kind": "paid", "amount": 3}"#) == nil)
        #expect(judge(payments, #"{"kind": "paid", "amount": 0}"#) == .schemaViolation, "exclusiveMinimum through definitions")
        #expect(judge(payments, #"{"kind": "paid", "amount": 3, "refund": true}"#) == .schemaViolation, "refund needs a reason")
        #expect(judge(payments, #"{"kind": "paid", "amount": 3, "refund": true, "reason": "x"}"#) == nil)
        #expect(judge(payments, #"{"kind": "paid", "amount": 3, "note": "x"}"#) == .schemaViolation, "a note needs an author")
        #expect(judge(payments, #"["a", 1]"#) == .notJSON, "an event is an object")
        let pair = try #require(payments.schemas["pair"])
        #expect(pair.accepts(try JSONValue.parse(Array(#"["a", 1]"#.utf8))))
        #expect(!pair.accepts(try JSONValue.parse(Array(#"["a", 1, 2]"#.utf8))), "additionalItems: false")
        #expect(!pair.accepts(try JSONValue.parse(Array(#"[1, "a"]"#.utf8))), "the tuple's positions")
    }

    @Test func twoDocumentsAreComparedChannelByChannelAndMessageByMessage() throws {
        func document(_ orders: String, extra: String = "") -> String {
            #"{"asyncapi": "3.0.0", "channels": {"orders": {"address": "orders.{event}", "messages": {\#(orders)}}\#(extra)}}"#
        }
        let created = #""created": {"payload": {"type": "object", "required": ["amount"], "properties": {"currency": {"enum": ["EUR", "USD"]}}}}"#
        let widened = #""created": {"payload": {"type": "object", "required": ["amount"], "properties": {"currency": {"enum": ["EUR", "USD", "GBP"]}}}}"#
        let cancelled = #""cancelled": {"payload": {"type": "object"}}"#
        let files = Files(["/old.json": document(created + ", " + cancelled),
                           "/new.json": document(widened + #", "shipped": {"payload": true}"#, extra: #", "audit": {"address": "audit"}"#)])
        let old = try files.document("/old.json"), new = try files.document("/new.json")
        let diff = try SchemaDiff(old: old, new: new)
        let byPointer = Dictionary(diff.changes.map { ($0.pointer, $0) }) { first, _ in first }
        #expect(byPointer["/channels/audit"]?.verdict == "compatible", "a channel added: \(diff.changes)")
        #expect(byPointer["/channels/orders.{event}/messages/shipped"]?.verdict == "breaks consumers")
        #expect(byPointer["/channels/orders.{event}/messages/cancelled"]?.verdict == "breaks publishers")
        #expect(byPointer["/channels/orders.{event}/messages/created/payload/properties/currency/enum"]?.verdict == "breaks consumers")
        #expect(diff.breaks(.consumers) && diff.breaks(.publishers) && !diff.hasUnknown)
        #expect(diff.consumerWitnessPlace == "/channels/orders.{event}/messages/created/payload")
        let witness = try #require(diff.consumerWitness)
        let oldSchema = try JSONSchema(try #require(old.channels.first?.messages.first { $0.id == "created" }).schema)
        let newSchema = try JSONSchema(try #require(new.channels.first { $0.id == "orders" }?.messages.first { $0.id == "created" }).schema)
        #expect(newSchema.accepts(witness) && !oldSchema.accepts(witness), "\(witness.text)")

        let same = try SchemaDiff(old: old, new: try files.document("/old.json"))
        #expect(same.changes.isEmpty && !same.breaks(.both))
    }

    @Test func aParameterIsAGlobAndTheRestIsLiteral() throws {
        func glob(_ address: String) throws -> String {
            let files = Files(["/a.json": #"{"asyncapi": "3.0.0", "channels": {"c": {"address": "\#(address)"}}}"#])
            return try #require(try files.document("/a.json").channels.first).contract.channels
        }
        #expect(try glob("orders.{region}.created") == "orders.*.created")
        #expect(try glob("a*b") == #"a\*b"#, "a literal star matches only itself")
        #expect(try glob("{tenant}") == "*")
    }

    @Test func whatCannotBeReadIsAProblemWithItsPlace() {
        func problem(_ text: String, files more: [String: String] = [:]) -> AsyncAPIDocument.Problem? {
            let files = Files(more.merging(["/d.json": text]) { $1 })
            do {
                _ = try files.document("/d.json")
                return nil
            } catch {
                return error
            }
        }
        func channel(_ body: String, components: String = "{}") -> String {
            #"{"asyncapi": "3.0.0", "channels": {"c": \#(body)}, "components": \#(components)}"#
        }
        let notAsyncAPI = problem(#"{"openapi": "3.0.0", "paths": {}}"#)
        #expect(notAsyncAPI?.pointer == "" && notAsyncAPI?.reason.contains("not an AsyncAPI document") == true)
        #expect(problem(#"{"asyncapi": "1.2.0", "channels": {}}"#)?.pointer == "/asyncapi")
        #expect(problem(#"{"asyncapi": "3.0.0", "channels": {}}"#)?.pointer == "/channels")
        let noAddress = problem(channel(#"{"messages": {}}"#))
        #expect(noAddress?.pointer == "/channels/c/address" && noAddress?.reason.contains("no address") == true, "\(String(describing: noAddress))")
        #expect(problem(channel(#"{"address": null}"#))?.pointer == "/channels/c/address")
        let nowhere = problem(channel(##"{"address": "c", "messages": {"m": {"payload": {"$ref": "#/components/schemas/Missing"}}}}"##))
        #expect(nowhere?.pointer == "/channels/c/messages/m/payload/$ref" && nowhere?.reason.contains("leads nowhere") == true,
                "\(String(describing: nowhere))")
        let loop = problem(channel(##"{"address": "c", "messages": {"m": {"payload": {"$ref": "#/components/schemas/A"}}}}"##,
                                   components: ##"{"schemas": {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}}}"##))
        #expect(loop?.reason.contains("loops") == true, "\(String(describing: loop))")
        let missingFile = problem(channel(#"{"address": "c", "messages": {"m": {"payload": {"$ref": "gone.json"}}}}"#))
        #expect(missingFile?.reason.contains("cannot read '/gone.json'") == true, "\(String(describing: missingFile))")
        let remote = problem(channel(#"{"address": "c", "messages": {"m": {"payload": {"$ref": "https://example.com/s.json"}}}}"#))
        #expect(remote?.reason.contains("not followed") == true)
        let keyword = problem(channel(#"{"address": "c", "messages": {"m": {"payload": {"$ref": "s.json#/defs/x"}}}}"#),
                              files: ["/s.json": #"{"defs": {"x": {"type": "array", "uniqueItems": true}}}"#])
        #expect(keyword?.file == "/s.json" && keyword?.pointer == "/defs/x/uniqueItems" && keyword?.reason.contains("'uniqueItems' is not supported") == true,
                "the place in the file that says it: \(String(describing: keyword))")
        let avro = problem(channel(#"{"address": "c", "messages": {"m": {"payload": {"schemaFormat": "application/vnd.apache.avro;version=1.9.0", "schema": {}}}}}"#))
        #expect(avro?.pointer == "/channels/c/messages/m/payload/schemaFormat")
        let typo = problem(channel(#"{"address": "c", "x-lookout-sequnce": true}"#))
        #expect(typo?.pointer == "/channels/c/x-lookout-sequnce" && typo?.reason.contains("unknown extension") == true)
        let unmet = problem(channel(#"{"address": "c", "x-lookout-sequence": true}"#))
        #expect(unmet?.pointer == "/channels/c/x-lookout-sequence" && unmet?.reason.contains("x-lookout-fields.sequence") == true,
                "plain JSON names no sequence field: \(String(describing: unmet))")
        #expect(problem(channel(#"{"address": "c", "x-lookout-duplicates": "2d"}"#))?.pointer == "/channels/c/x-lookout-duplicates")
        #expect(problem(channel(#"{"address": "c{x"}"#))?.reason.contains("never closed") == true)
        let overlap = problem(#"{"asyncapi": "3.0.0", "channels": {"a": {"address": "orders.{id}"}, "b": {"address": "orders.eu"}}}"#)
        #expect(overlap?.pointer == "/channels/b" && overlap?.reason.contains("can match the same channel") == true, "\(String(describing: overlap))")
    }
}
