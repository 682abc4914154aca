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
        // Found by `make fuzz` (config): a duration beyond Int64 milliseconds crashed the parse.
        #expect(DurationText.parse(String(repeating: "9", count: 40) + "s") == nil)
        #expect(DurationText.parse("1e300d") == nil)
        #expect(DurationText.parse("inf" + "s") == nil && DurationText.parse("nans") == nil)
        #expect(DurationText.parse("100000000000d") != nil, "273 million years still fit")
        #expect(DurationText.text(seconds: 1e300) == "1e+300s")
    }

    @Test(arguments: [(0.5, "500ms"), (1.5, "1500ms"), (90.0, "90s"), (120.0, "2m"), (3600.0, "1h"), (2_592_000.0, "30d"), (86_401.0, "86401s")] as [(Double, String)])
    func writesInTheLargestWholeUnitAndReadsBack(seconds: Double, text: String) {
        #expect(DurationText.text(seconds: seconds) == text)
        #expect(DurationText.seconds(text) == seconds)
    }
}
