import LookoutCore
import Testing

@Suite struct EventContractTests {
    private let orderSchema = try! JSONSchema(try! JSONValue.parse(Array(#"""
        {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number", "minimum": 0}}}
        """#.utf8)))

    private func cloudEvent(_ fields: String, data: String = #"{"amount": 5}"#) -> [UInt8] {
        Array(#"{"specversion": "1.0", \#(fields), "data": \#(data)}"#.utf8)
    }

    @Test func cloudEventsAreCheckedEnvelopeFirstThenTheirData() {
        let contract = EventContract(channels: "orders.*", format: .cloudevents, schemas: ["order.created": orderSchema], requireSchema: true,
                                     checksSequence: true)
        let good = contract.judge(cloudEvent(#""id": "e1", "source": "/shop", "type": "order.created", "sequence": "42""#))
        #expect(good == .accepted(EventIdentity(source: "/shop", id: "e1", sequence: 42, type: "order.created")))

        func reason(_ payload: [UInt8]) -> ContractViolation? {
            if case .violated(let violation) = contract.judge(payload) { return violation }
            return nil
        }
        #expect(reason(Array("not json".utf8))?.reason == .notJSON)
        #expect(reason(Array("[1]".utf8))?.reason == .notJSON, "an event is an object")
        #expect(reason([0x7B, 0xFF, 0x7D])?.reason == .notJSON, "not UTF-8")
        #expect(reason(Array((String(repeating: "[", count: 100) + String(repeating: "]", count: 100)).utf8))?.reason == .notJSON)
        #expect(reason(Array(repeating: 0x20, count: EventContract.maxPayloadBytes + 1))?.reason == .tooLarge)
        #expect(reason(Array(#"{"id": "e1", "source": "/s", "type": "order.created"}"#.utf8))?.pointer == "/specversion")
        let missing = reason(cloudEvent(#""source": "/shop", "type": "order.created", "sequence": "1""#))
        #expect(missing?.reason == .missingAttribute && missing?.pointer == "/id")
        #expect(reason(cloudEvent(#""id": 7, "source": "/shop", "type": "order.created", "sequence": "1""#))?.reason == .wrongType)
        #expect(reason(cloudEvent(#""id": "e", "source": "/shop", "type": "order.created", "sequence": "-1""#))?.reason == .wrongType)
        #expect(reason(cloudEvent(#""id": "e", "source": "/shop", "type": "order.created""#))?.reason == .missingAttribute,
                "sequence checking needs a sequence")
        #expect(reason(cloudEvent(#""id": "e", "source": "/shop", "type": "order.shipped", "sequence": "1""#))?.reason == .unknownType)
        let bad = reason(cloudEvent(#""id": "e9", "source": "/shop", "type": "order.created", "sequence": "1""#, data: #"{"amount": -1}"#))
        #expect(bad?.reason == .schemaViolation && bad?.pointer == "/data/amount" && bad?.identity.id == "e9")
    }

    @Test func plainJSONNamesItsOwnFieldsAndPicksASchemaByVersion() throws {
        let v2 = try JSONSchema(try JSONValue.parse(Array(#"{"required": ["total"]}"#.utf8)))
        let contract = EventContract(channels: "legacy.*", format: .json,
                                     fields: .init(id: "event_id", source: "producer", sequence: "seq", type: "kind", version: "v"),
                                     schemas: ["order": orderSchema, "order@2": v2])
        #expect(contract.judge(Array(#"{"event_id": 17, "producer": "billing", "seq": 3, "kind": "order", "amount": 1}"#.utf8))
                == .accepted(EventIdentity(source: "billing", id: "17", sequence: 3, type: "order")))
        if case .violated(let violation) = contract.judge(Array(#"{"kind": "order", "v": "2", "amount": 1}"#.utf8)) {
            #expect(violation.reason == .schemaViolation && violation.message.contains("'total' is missing"))
        } else {
            Issue.record("version 2 has its own schema")
        }
        #expect(contract.judge(Array(#"{"kind": "refund"}"#.utf8)) == .accepted(EventIdentity(type: "refund")),
                "a type with no schema passes unless the contract requires one")
    }

    @Test func channelsFindTheirContractAndOverlapsAreFound() {
        let contracts = ContractSet([EventContract(channels: "orders.*", format: .cloudevents), EventContract(channels: "legacy.[ab]", format: .json)])
        #expect(contracts.contractIndex(for: Array("orders.created".utf8)) == 0)
        #expect(contracts.contractIndex(for: Array("legacy.b".utf8)) == 1)
        #expect(contracts.contractIndex(for: Array("payments".utf8)) == nil, "a channel with no contract is never judged")
        #expect(ContractSet.firstOverlap(["orders.*", "legacy.*", "*.created"]) ?? (0, 0) == (0, 2))
        #expect(ContractSet.firstOverlap(["orders.*", "legacy.*", "audit"]) == nil)
        #expect(ContractSet.firstOverlap(["legacy.[ab]", "legacy.[cd]"]) == nil)
        #expect(ContractSet.firstOverlap(["legacy.[ab]", "legacy.?"]) ?? (0, 0) == (0, 1))
    }
}

@Suite struct IntegrityLedgerTests {
    @Test func typeAndVersionLabelsStayBounded() throws {
        let schema = try JSONSchema(try JSONValue.parse(Array(#"{"type": "object"}"#.utf8)))
        var ledger = IntegrityLedger(contracts: ContractSet([EventContract(channels: "legacy.*", format: .json,
                                                                           fields: .init(type: "kind", version: "v"), schemas: ["order": schema])]))
        func label(_ payload: String) -> IntegrityLedger.EventTypeLabel? {
            ledger.record(channel: "legacy.orders", payload: Array(payload.utf8), now: 0)?.typeLabel
        }
        let versions = (1...12).map { label(#"{"kind": "order", "v": "\#($0)"}"#)?.version }
        #expect(versions == (1...10).map { "\($0)" } + ["__other__", "__other__"], "at most 10 versions of a type are labelled")
        #expect(label(#"{"kind": "order", "v": "3"}"#) == .init(type: "order", version: "3"), "a version already labelled keeps its label")
        #expect(label(#"{"kind": "refund", "v": "1"}"#)?.type == "__other__", "a type with no schema")
        let unjudged = ledger.record(channel: "payments", payload: Array("not json".utf8), now: 0)
        #expect(unjudged == nil, "a channel with no contract is not judged")
    }
}

@Suite struct SequenceTrackerTests {
    @Test func gapsSettleAfterTheReorderWindowAndLateEventsAreOutOfOrder() {
        var tracker = SequenceTracker()
        var outcomes: [SequenceTracker.Outcome] = []
        for (sequence, at) in [(1, 0.0), (2, 0.1), (5, 0.2), (3, 0.3), (6, 0.4), (2, 0.5), (1, 0.6), (2, 0.7)] as [(UInt64, Double)] {
            outcomes.append(tracker.observe(channel: "orders", source: "a", sequence: sequence, now: at))
        }
        #expect(outcomes == [.first, .inOrder, .skipped(2), .outOfOrder, .inOrder, .outOfOrder, .restart, .inOrder])
        #expect(tracker.takeMissing(now: 1).isEmpty, "4 is still a hole within the window")
        #expect(tracker.takeMissing(now: 0.2 + SequenceTracker.reorderWindow) == ["orders": 1], "3 came late; 4 never did")
        #expect(tracker.takeMissing(now: 100).isEmpty, "counted once")
        #expect(tracker.observe(channel: "orders", source: "b", sequence: 9, now: 1) == .first, "each source has its own count")
        #expect(tracker.observe(channel: "orders", source: "b", sequence: 1_000, now: 1) == .skipped(990))
        #expect(tracker.observe(channel: "orders", source: "b", sequence: 500, now: 2) == .outOfOrder)
        #expect(tracker.takeMissing(now: 1 + SequenceTracker.reorderWindow) == ["orders": 989], "a long jump is one hole, split by a late event")
        _ = tracker.observe(channel: "orders", source: "b", sequence: 2_000, now: 10)
        tracker.forget(channel: "orders")
        #expect(tracker.takeMissing(now: 100).isEmpty, "a forgotten stream reports nothing")
        #expect(tracker.observe(channel: "orders", source: "b", sequence: 5_000, now: 100) == .first)
    }

    @Test func sourcesAreCapped() {
        var tracker = SequenceTracker(maxStreams: 2)
        _ = tracker.observe(channel: "c", source: "a", sequence: 1, now: 0)
        _ = tracker.observe(channel: "c", source: "b", sequence: 1, now: 0)
        #expect(tracker.observe(channel: "c", source: "z", sequence: 1, now: 0) == .untracked && tracker.untrackedEvents == 1)
    }
}

@Suite struct DuplicateWindowTests {
    @Test func theSameEventWithinTheWindowIsADuplicate() {
        var window = DuplicateWindow(window: 600)
        let seen = [
            window.isDuplicate(channel: "o", source: "/s", id: "1", now: 0),
            window.isDuplicate(channel: "o", source: "/s", id: "1", now: 300),
            window.isDuplicate(channel: "o", source: "/t", id: "1", now: 300),
            window.isDuplicate(channel: "o", source: "/s1", id: "", now: 300),
            window.isDuplicate(channel: "o", source: "/s", id: "1x", now: 300),
            window.isDuplicate(channel: "o", source: "/s", id: "1", now: 700),
        ]
        #expect(seen == [false, true, false, false, false, false],
                "a repeat within the window; another source's id 1, a split of the same bytes, or a repeat after the window are not")
    }

    @Test func memoryIsCappedByShorteningTheWindow() {
        var window = DuplicateWindow(window: 10, capacity: 100)
        for i in 0..<250 { _ = window.isDuplicate(channel: "o", source: "s", id: "\(i)", now: Double(i) * 0.01) }
        #expect(window.keyCount <= 100 && window.evictedEarly >= 150)
        let newest = window.isDuplicate(channel: "o", source: "s", id: "249", now: 2.5)
        #expect(newest, "the newest are kept")
    }
}
