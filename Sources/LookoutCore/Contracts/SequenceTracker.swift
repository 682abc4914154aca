/// Per (channel, source) sequence checking: events missing between a publisher and the bus,
/// events arriving out of order, and publishers that restarted their count. Pure: the caller
/// passes the time.
///
/// Numbers skipped are not counted missing at once: they stay a hole for ``reorderWindow``
/// seconds, and a late event that fills one is counted out of order instead — so a reordering
/// never shows as a loss, and a stream forgotten within the window (its events went unseen,
/// see ``forget(channel:)``) reports nothing it cannot know. A stream keeps at most
/// ``maxHoles`` holes (runs of missing numbers); beyond that the oldest is settled early. A
/// number at or below 1 after a later one is a restart (counted, not a gap). How many sources
/// are tracked is capped; events of sources beyond the cap are counted and not checked.
public struct SequenceTracker: Sendable {
    /// What one event did to its stream.
    public enum Outcome: Sendable, Hashable {
        /// The stream's first event seen (nothing to compare with).
        case first
        case inOrder
        /// It skipped numbers: they are a hole now, counted missing when it expires.
        case skipped(UInt64)
        /// It was late: a hole filled, or a number already passed.
        case outOfOrder
        /// The publisher started again at 0 or 1.
        case restart
        /// A new source beyond the cap: not tracked.
        case untracked
    }

    public static let reorderWindow = 5.0
    public static let maxHoles = 64
    public let maxStreams: Int

    private struct Hole: Sendable {
        var numbers: Range<UInt64>
        var since: Double
    }

    private struct Stream: Sendable {
        var next: UInt64
        var holes: [Hole] = []
    }

    private struct Key: Hashable, Sendable {
        var channel: String
        var source: String
    }

    private var streams: [Key: Stream] = [:]
    /// Missing events settled since the last ``takeMissing(now:)``, per channel.
    private var missing: [String: UInt64] = [:]
    /// Events of sources beyond the cap.
    public private(set) var untrackedEvents: UInt64 = 0

    public init(maxStreams: Int = 10_000) {
        self.maxStreams = maxStreams
    }

    /// Sources tracked now.
    public var streamCount: Int { streams.count }

    public mutating func observe(channel: String, source: String, sequence: UInt64, now: Double) -> Outcome {
        let key = Key(channel: channel, source: source)
        guard var stream = streams[key] else {
            guard streams.count < maxStreams else {
                untrackedEvents += 1
                return .untracked
            }
            streams[key] = Stream(next: sequence &+ 1)
            return .first
        }
        defer { streams[key] = stream }
        if sequence == stream.next {
            stream.next = sequence &+ 1
            return .inOrder
        }
        if sequence > stream.next {
            let skipped = sequence - stream.next
            stream.holes.append(Hole(numbers: stream.next..<sequence, since: now))
            if stream.holes.count > Self.maxHoles {
                missing[channel, default: 0] += UInt64(stream.holes[0].numbers.count)
                stream.holes.removeFirst()
            }
            stream.next = sequence &+ 1
            return .skipped(skipped)
        }
        if let index = stream.holes.firstIndex(where: { $0.numbers.contains(sequence) }) {
            let hole = stream.holes[index]
            stream.holes.remove(at: index)
            let before = hole.numbers.lowerBound..<sequence, after = (sequence + 1)..<hole.numbers.upperBound
            for part in [after, before] where !part.isEmpty { stream.holes.insert(Hole(numbers: part, since: hole.since), at: index) }
            return .outOfOrder
        }
        if sequence <= 1 {
            // Holes left from before the restart are settled as they expire.
            stream.next = sequence &+ 1
            return .restart
        }
        return .outOfOrder
    }

    /// Forgets every source's stream on `channel` (their next event starts afresh) with its
    /// holes: used when events on it went unseen, which would otherwise look missing.
    public mutating func forget(channel: String) {
        streams = streams.filter { $0.key.channel != channel }
    }

    /// Events in holes older than the reorder window, counted missing, per channel; forgotten
    /// once counted.
    public mutating func takeMissing(now: Double) -> [String: UInt64] {
        for (key, stream) in streams where stream.holes.contains(where: { now - $0.since >= Self.reorderWindow }) {
            for hole in stream.holes where now - hole.since >= Self.reorderWindow {
                missing[key.channel, default: 0] += UInt64(hole.numbers.count)
            }
            streams[key]?.holes.removeAll { now - $0.since >= Self.reorderWindow }
        }
        defer { missing = [:] }
        return missing
    }
}
