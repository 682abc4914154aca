/// The resolutions channel history is kept at, finest first: each tier holds buckets of
/// `resolution` seconds for `retention` seconds, rolled up from the tier before it. Pure
/// configuration, validated once.
public struct StoreTiers: Sendable, Hashable {
    /// One resolution and how long it is kept.
    public struct Tier: Sendable, Hashable {
        /// Bucket width in whole seconds.
        public var resolution: Int64
        /// Seconds a bucket is kept.
        public var retention: Double

        public init(resolution: Int64, retention: Double) {
            self.resolution = resolution
            self.retention = retention
        }
    }

    public private(set) var tiers: [Tier]

    /// 1 s for an hour, 10 s for a day, 5 minutes for 30 days.
    public static let `default` = try! StoreTiers([
        Tier(resolution: 1, retention: 3600), Tier(resolution: 10, retention: 24 * 3600), Tier(resolution: 300, retention: 30 * 24 * 3600),
    ])

    /// Why a list of tiers cannot be used; the message names the tier.
    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Validates: at least one tier, resolutions growing, each a whole multiple of the one before
    /// (so a coarse bucket is made of whole finer ones), retentions growing and each at least two
    /// of its buckets.
    public init(_ tiers: [Tier]) throws(Invalid) {
        guard !tiers.isEmpty else { throw Invalid(description: "at least one tier is needed") }
        for (index, tier) in tiers.enumerated() {
            let name = "tier \(index + 1) (\(Self.text(tier.resolution)))"
            guard tier.resolution >= 1 else { throw Invalid(description: "\(name): the resolution must be at least 1s") }
            guard tier.retention >= Double(2 * tier.resolution) else {
                throw Invalid(description: "\(name): the retention must hold at least two buckets")
            }
            guard index > 0 else { continue }
            let finer = tiers[index - 1]
            guard tier.resolution > finer.resolution, tier.resolution % finer.resolution == 0 else {
                throw Invalid(description: "\(name): each resolution must be a whole multiple of the one before (\(Self.text(finer.resolution)))")
            }
            guard tier.retention >= finer.retention else {
                throw Invalid(description: "\(name): a coarser tier must be kept at least as long as the finer one before it")
            }
        }
        self.tiers = tiers
    }

    public var finest: Tier { tiers[0] }
    public var coarsest: Tier { tiers[tiers.count - 1] }

    /// The same tiers with the finest kept `retention` (the old `--raw-retention`), growing the
    /// coarser ones' retention where they would be shorter.
    public func withFinestRetention(_ retention: Double) throws(Invalid) -> StoreTiers {
        var tiers = self.tiers
        tiers[0].retention = retention
        for index in tiers.indices.dropFirst() { tiers[index].retention = max(tiers[index].retention, retention) }
        return try StoreTiers(tiers)
    }

    /// The same tiers with the coarsest kept `retention` (the old `--rollup-retention`).
    public func withCoarsestRetention(_ retention: Double) throws(Invalid) -> StoreTiers {
        var tiers = self.tiers
        tiers[tiers.count - 1].retention = retention
        return try StoreTiers(tiers)
    }

    /// Rows one busy channel leaves in each tier once every tier is full.
    public var rowsPerChannel: [Int64] { tiers.map { Int64($0.retention) / $0.resolution } }

    /// `300` → "5m", `10` → "10s": how tiers are named in metrics and logs.
    public static func text(_ seconds: Int64) -> String {
        if seconds % 86400 == 0 { return "\(seconds / 86400)d" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

/// Which tier answers for which stretch of time in a query. Each tier covers `[start, end)`:
/// from its oldest bucket kept to where its roll-up has reached (the finest tier, written
/// directly, to the present). For each moment the plan takes the coarsest tier no coarser than the
/// step that covers it (fewest rows, same sums), and where none does, the finest that does.
/// Pure: the reader turns the segments into SQL.
public struct TierPlan: Sendable {
    /// What a tier holds, as recorded in the database.
    public struct Coverage: Sendable, Hashable {
        public var resolution: Int64
        /// First bucket kept; nil when nothing was ever expired.
        public var start: Int64?
        /// Where the roll-up has reached (exclusive); nil for a tier written directly.
        public var end: Int64?

        public init(resolution: Int64, start: Int64?, end: Int64?) {
            self.resolution = resolution
            self.start = start
            self.end = end
        }
    }

    /// Buckets of one tier, `from <= bucket < to`.
    public struct Segment: Sendable, Hashable {
        public var resolution: Int64
        public var from: Int64
        public var to: Int64
    }

    public static func segments(_ coverage: [Coverage], since: Int64, until: Int64, step: Int64) -> [Segment] {
        guard since < until, !coverage.isEmpty else { return [] }
        func lower(_ tier: Coverage) -> Int64 { tier.start ?? Int64.min }
        func upper(_ tier: Coverage) -> Int64 { tier.end ?? Int64.max }
        var boundaries: Set<Int64> = [since, until]
        for tier in coverage {
            if let start = tier.start, start > since, start < until { boundaries.insert(start) }
            if let end = tier.end, end > since, end < until { boundaries.insert(end) }
        }
        let cuts = boundaries.sorted()
        let finestFirst = coverage.sorted { $0.resolution < $1.resolution }
        var segments: [Segment] = []
        for (from, to) in zip(cuts, cuts.dropFirst()) {
            let covering = finestFirst.filter { lower($0) <= from && to <= upper($0) }
            guard let chosen = covering.last(where: { $0.resolution <= step }) ?? covering.first else { continue }
            if let last = segments.last, last.resolution == chosen.resolution, last.to == from {
                segments[segments.count - 1].to = to
            } else {
                segments.append(Segment(resolution: chosen.resolution, from: from, to: to))
            }
        }
        return segments
    }
}
