/// Whether a source sees every message: the subscriptions it needs (on a Redis, the pattern
/// subscription and one per shard with shard channels), which of them are missing, and the gaps.
/// A gap runs from the moment the first needed subscription is missing to the moment none is:
/// while one is missing, messages go unseen. Pure; times in seconds since the epoch.
public struct SourceCoverage<Link: Hashable & Sendable>: Sendable {
    private var missingSince: [Link: Double] = [:]
    private var gapStart: Double?

    public init() {}

    /// True while no needed subscription is missing.
    public var isComplete: Bool { missingSince.isEmpty }

    /// The subscriptions missing now.
    public var missing: Set<Link> { Set(missingSince.keys) }

    /// `link` is needed and not there (lost, or could not be made). True when this starts a gap.
    @discardableResult
    public mutating func lost(_ link: Link, at now: Double) -> Bool {
        guard missingSince[link] == nil else { return false }
        missingSince[link] = now
        guard gapStart == nil else { return false }
        gapStart = now
        return true
    }

    /// `link` is there again, or no longer needed: the gap it closes (start and end), if it was
    /// the last one missing.
    public mutating func restored(_ link: Link, at now: Double) -> (start: Double, end: Double)? {
        guard missingSince.removeValue(forKey: link) != nil, missingSince.isEmpty, let start = gapStart else { return nil }
        gapStart = nil
        return (start, max(start, now))
    }
}
