import Testing

@testable import LookoutCore

@Suite struct DurationTextTests {
    @Test func parsesUnits() {
        #expect(DurationText.parse("500ms") == .milliseconds(500))
        #expect(DurationText.parse("5s") == .seconds(5))
        #expect(DurationText.parse("15m") == .seconds(900))
        #expect(DurationText.parse("24h") == .seconds(86400))
        #expect(DurationText.parse("1.5s") == .milliseconds(1500))
        #expect(DurationText.parse("5") == nil)
        #expect(DurationText.parse("-5s") == nil)
        #expect(DurationText.parse("soon") == nil)
    }
}
