import Foundation
import LookoutCore
import Testing

@Suite struct PayloadShapeTests {
    private static let shapes = [
        #"{"id": "4b7c6f2e-1d2a-4c3b-9e8f-0a1b2c3d4e5f", "kind": "click", "at": "2026-12-07T10:00:00Z", "x": 3, "y": 4}"#,
        #"{"id": "9b7c6f2e-1d2a-4c3b-9e8f-0a1b2c3d4e5f", "kind": "view", "at": "2026-12-07T10:00:01Z", "page": {"path": "/", "ms": 12.5}}"#,
        #"{"id": "1b7c6f2e-1d2a-4c3b-9e8f-0a1b2c3d4e5f", "kind": "buy", "at": "2026-12-07T10:00:02Z", "items": [{"sku": "a", "qty": 1}], "total": 10}"#,
    ]

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func aNewFieldAfterTheShapeSettledIsOneChangeAndTheSchemaAcceptsEverythingSeen() throws {
        var inferred = InferredShapes()
        func merge(_ text: String) -> [String]? { inferred.merge(Array(text.utf8), into: "telemetry") }
        for index in 0..<300 { #expect(merge(Self.shapes[index % 3]) == nil) }
        let shape = try #require(inferred.shapes["telemetry"])
        #expect(shape.settled && shape.messages == 300)
        // The same shapes in another order, an integer where a number was: nothing new.
        #expect(merge(#"{"id": "x", "kind": "view", "at": "t", "page": {"path": "/a", "ms": 3}}"#) == nil)
        let added = merge(#"{"id": "x", "kind": "click", "at": "t", "x": 1, "y": 2, "session": "s1"}"#)
        #expect(added == ["/session"], "one new field: \(String(describing: added))")
        #expect(merge(#"{"id": "x", "kind": "click", "at": "t", "x": 1, "y": 2, "session": "s2"}"#) == nil,
                "the same field again is not another change")
        for _ in 0..<PayloadShape.settleMessages { _ = merge(Self.shapes[0]) }
        #expect(merge(#"{"id": 7, "kind": "click", "at": "t"}"#) == ["/id (integer)"], "a new type")

        let schema = try JSONSchema(inferred.shapes["telemetry"]!.schema(title: "telemetry"))
        for text in Self.shapes + [#"{"id": "x", "kind": "click", "at": "t", "x": 1, "y": 2, "session": "s1"}"#, #"{"id": 7, "kind": "click", "at": "t"}"#] {
            #expect(schema.accepts(try JSONValue.parse(bytes(text))), "\(text)")
        }
        #expect(!schema.accepts(try JSONValue.parse(bytes(#"{"kind": "click", "at": "t"}"#))), "id was in every message: required")
        #expect(!schema.accepts(try JSONValue.parse(bytes(#"{"id": "x", "kind": 3, "at": "t"}"#))), "kind was always a string")
    }

    /// Changed shapes go to the store every ``InferredShapes/storeInterval`` seconds, and all at
    /// once at a stop.
    @Test func changedShapesAreHandedOverOnTheIntervalOrAtOnce() {
        var inferred = InferredShapes()
        _ = inferred.merge(bytes(Self.shapes[0]), into: "a")
        #expect(inferred.takeDue(at: 100).map(\.channel) == ["a"])
        _ = inferred.merge(bytes(Self.shapes[1]), into: "b")
        #expect(inferred.takeDue(at: 100 + InferredShapes.storeInterval / 2).isEmpty, "not before the interval")
        #expect(inferred.takeChanged().map(\.channel) == ["b"], "at a stop: what changed, at once")
        #expect(inferred.takeChanged().isEmpty && inferred.takeDue(at: 200).isEmpty, "nothing changed since")
    }

    @Test func theSchemaSaysTypesRequiredFieldsItemsAndFormats() throws {
        var shape = PayloadShape()
        for text in Self.shapes { shape.merge(bytes(text)) }
        shape.merge(bytes("not json"))
        let schema = shape.schema(title: "t")
        #expect(schema["type"] == .string("object"))
        #expect(schema["required"] == .array([.string("at"), .string("id"), .string("kind")]))
        #expect(schema["properties"]?["id"]?["format"] == .string("uuid"))
        #expect(schema["properties"]?["at"]?["format"] == .string("date-time"))
        #expect(schema["properties"]?["page"]?["properties"]?["ms"]?["type"] == .string("number"))
        #expect(schema["properties"]?["items"]?["items"]?["required"] == .array([.string("qty"), .string("sku")]))
        #expect(schema["properties"]?["total"]?["type"] == .string("integer"))
        #expect(shape.messages == 3 && shape.notJSON == 1)
    }

    @Test func aStoredShapeReadsBackTheSame() throws {
        var shape = PayloadShape()
        for text in Self.shapes { shape.merge(bytes(text)) }
        let stored = try #require(PayloadShape(json: try JSONValue.parse(bytes(shape.json.text), maxDepth: 128)))
        #expect(stored.root == shape.root && stored.messages == 3)
        #expect(stored.schema(title: "t") == shape.schema(title: "t"))
        #expect(PayloadShape(json: .object(["messages": .number(1)])) == nil)
    }

    @Test func aShapeIsBoundedInFieldsAndDepth() throws {
        var shape = PayloadShape()
        let wide = "{" + (0..<1000).map { #""f\#($0)": \#($0)"# }.joined(separator: ",") + "}"
        shape.merge(bytes(wide))
        let properties = shape.schema(title: "t")["properties"]
        guard case .object(let fields)? = properties else { Issue.record("no properties"); return }
        #expect(fields.count == PayloadShape.maxNodes - 1, "the root and 255 fields")
        let deep = String(repeating: #"{"a":"#, count: 20) + "1" + String(repeating: "}", count: 20)
        var nested = PayloadShape()
        nested.merge(bytes(deep))
        let schema = try JSONSchema(nested.schema(title: "t"))
        #expect(schema.accepts(try JSONValue.parse(bytes(deep))))
        #expect(nested.schema(title: "t").text.components(separatedBy: "properties").count - 1 == PayloadShape.maxDepth)
    }

    @Test func aSamplingWindowTakesItsLimitEachSecond() {
        var window = ShapeSampling.Window(limit: 3)
        var taken: [Bool] = []
        for _ in 0..<5 { taken.append(window.take(at: 10.0)) }
        #expect(taken == [true, true, true, false, false])
        #expect(!window.hasRoom(at: 10.5) && window.hasRoom(at: 11.0))
        let again = window.take(at: 11.0)
        #expect(again)
    }
}
