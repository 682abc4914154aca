import Testing

@testable import LookoutCore

@Suite struct EnvelopeTimestampTests {
    private func seconds(_ json: String, field: String = "ts") -> Double? {
        EnvelopeTimestamp(field: field).seconds(in: Array(json.utf8))
    }

    @Test func millisecondsSinceTheEpoch() {
        #expect(seconds(#"{"id":1,"ts":1764172800123}"#) == 1_764_172_800.123)
        #expect(seconds(#"{"meta": {"ts" : 1000}, "x": 2}"#) == 1)
    }

    @Test func rfc3339() {
        #expect(seconds(#"{"ts":"2025-11-26T16:00:00Z"}"#) == 1_764_172_800)
        #expect(seconds(#"{"ts":"2025-11-26T16:00:00.250Z"}"#) == 1_764_172_800.25)
    }

    @Test func anythingElseIsNil() {
        #expect(seconds("not json") == nil)
        #expect(seconds(#"{"other":1}"#) == nil)
        #expect(seconds(#"{"ts":true}"#) == nil)
        #expect(seconds(#"{"ts":"yesterday"}"#) == nil)
        #expect(seconds(#"{"tsx":5}"#) == nil)
    }
}
