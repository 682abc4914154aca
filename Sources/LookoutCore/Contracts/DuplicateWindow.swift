/// Events seen recently, by (channel, source, id), to count the same event arriving again
/// within a window (at-least-once retries). Pure: the caller passes the time.
///
/// Keys are 64-bit FNV-1a hashes in time buckets (a tenth of the window each): a bucket older
/// than the window is dropped whole, so memory follows the traffic of one window. Two different
/// events share a hash with probability about n²/2⁶⁵ (n events in the window: one in 3.7 × 10⁷
/// for a million). At ``capacity`` keys the oldest bucket is dropped early, which shortens the
/// window rather than growing without bound; those drops are counted.
public struct DuplicateWindow: Sendable {
    public let window: Double
    public let capacity: Int
    private var buckets: [(start: Double, keys: Set<UInt64>)] = []
    private var count = 0
    /// Keys forgotten before their window ended, because the capacity was reached.
    public private(set) var evictedEarly: UInt64 = 0

    public init(window: Double, capacity: Int = 1_000_000) {
        self.window = window
        self.capacity = capacity
    }

    /// Keys held now (for the memory gauge).
    public var keyCount: Int { count }

    /// Records the event; returns whether it was already seen within the window.
    public mutating func isDuplicate(channel: String, source: String, id: String, now: Double) -> Bool {
        let key = Self.hash(channel, source, id)
        while let oldest = buckets.first, now - oldest.start >= window + window / 10 {
            count -= oldest.keys.count
            buckets.removeFirst()
        }
        if buckets.contains(where: { $0.keys.contains(key) }) { return true }
        if buckets.isEmpty || now - buckets[buckets.count - 1].start >= window / 10 {
            buckets.append((now, []))
        }
        while count >= capacity, buckets.count > 1 {
            evictedEarly += UInt64(buckets[0].keys.count)
            count -= buckets[0].keys.count
            buckets.removeFirst()
        }
        if count >= capacity {
            evictedEarly += UInt64(buckets[0].keys.count)
            count = 0
            buckets[0].keys.removeAll()
        }
        buckets[buckets.count - 1].keys.insert(key)
        count += 1
        return false
    }

    static func hash(_ parts: String...) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            hash ^= 0xFF  // a separator no UTF-8 byte sequence ends with
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
