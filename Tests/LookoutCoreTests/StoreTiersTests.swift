import Testing

@testable import LookoutCore

@Suite struct StoreTiersTests {
    typealias Coverage = TierPlan.Coverage
    typealias Segment = TierPlan.Segment

    /// 1 s written directly from 1000; 10 s rolled up over [400, 1200); 300 s over [0, 900).
    let steady = [Coverage(resolution: 1, start: 1000, end: nil), Coverage(resolution: 10, start: 400, end: 1200),
                  Coverage(resolution: 300, start: 0, end: 900)]

    @Test func eachStretchComesFromTheCoarsestTierTheStepAllows() {
        #expect(TierPlan.segments(steady, since: 0, until: 2000, step: 1) == [
            Segment(resolution: 300, from: 0, to: 400), Segment(resolution: 10, from: 400, to: 1000), Segment(resolution: 1, from: 1000, to: 2000),
        ], "step 1: the finest that covers each moment; older than the 10 s tier, only 300 s buckets remain")
        #expect(TierPlan.segments(steady, since: 0, until: 2000, step: 60) == [
            Segment(resolution: 300, from: 0, to: 400), Segment(resolution: 10, from: 400, to: 1200), Segment(resolution: 1, from: 1200, to: 2000),
        ])
        #expect(TierPlan.segments(steady, since: 0, until: 2000, step: 3600) == [
            Segment(resolution: 300, from: 0, to: 900), Segment(resolution: 10, from: 900, to: 1200), Segment(resolution: 1, from: 1200, to: 2000),
        ])
    }

    @Test func aRangeInsideOneTierIsOneSegment() {
        #expect(TierPlan.segments(steady, since: 1500, until: 1600, step: 3600) == [Segment(resolution: 1, from: 1500, to: 1600)])
        #expect(TierPlan.segments(steady, since: 100, until: 200, step: 1) == [Segment(resolution: 300, from: 100, to: 200)])
        #expect(TierPlan.segments(steady, since: 200, until: 100, step: 1).isEmpty)
        #expect(TierPlan.segments([], since: 0, until: 100, step: 1).isEmpty)
    }

    @Test func aFrozenTierFromAnOlderSchemaFillsWhatNoOtherCovers() {
        // The 60 s tier a version-3 database leaves: complete below 600, nothing after.
        let migrated = [Coverage(resolution: 1, start: 600, end: nil), Coverage(resolution: 10, start: 600, end: 700),
                        Coverage(resolution: 60, start: nil, end: 600)]
        #expect(TierPlan.segments(migrated, since: 0, until: 800, step: 3600) == [
            Segment(resolution: 60, from: 0, to: 600), Segment(resolution: 10, from: 600, to: 700), Segment(resolution: 1, from: 700, to: 800),
        ])
    }

    @Test func tiersAreValidatedWithKeyedReasons() throws {
        #expect(StoreTiers.default.tiers.map(\.resolution) == [1, 10, 300])
        #expect(StoreTiers.default.rowsPerChannel == [3600, 8640, 8640])
        #expect(throws: StoreTiers.Invalid.self) { try StoreTiers([]) }
        #expect { try StoreTiers([.init(resolution: 10, retention: 3600), .init(resolution: 25, retention: 7200)]) } throws: {
            "\($0)".contains("tier 2 (25s): each resolution must be a whole multiple of the one before (10s)")
        }
        #expect { try StoreTiers([.init(resolution: 60, retention: 60)]) } throws: { "\($0)".contains("at least two buckets") }
        let raised = try StoreTiers.default.withFinestRetention(48 * 3600)
        let expected: [Double] = [172_800, 172_800, 2_592_000]
        #expect(raised.tiers.map(\.retention) == expected, "coarser tiers grow to keep at least as long")
        #expect(StoreTiers.text(300) == "5m" && StoreTiers.text(86400) == "1d" && StoreTiers.text(15) == "15s")
    }
}
