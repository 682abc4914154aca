/// One batch of traffic summed per channel: what the relay's tap hands the monitor once per
/// read batch instead of once per message. Pure; keyed by whatever the source names channels
/// with (`ByteBuffer` on the relay's hot path). A Redis source counts with ``ChannelIndex``.
///
/// Entries are kept between batches (their counts reset), so a steady set of channels costs no
/// allocation per batch; a run of updates on one channel (the usual burst) reuses the last
/// lookup. At most `capacity` channels are remembered: past it the table starts afresh.
///
/// `@inlinable` throughout: it runs once per message on the relay's event loop, and a generic
/// type used from another module is only specialized (no witness-table calls per hash and
/// compare) when its code is visible there.
public struct ChannelSums<Key: Hashable> {
    /// One channel's sums in the current batch.
    public struct Entry {
        public var name: String
        public var messages = 0
        public var bytes = 0
        public var unrouted = 0
        /// Pattern subscriptions that received the batch's last message; nil when the source cannot tell.
        public var patternReceivers: Int?
        public var latencies: [LatencySample] = []

        @inlinable init(name: String) { self.name = name }

        @inlinable var isEmpty: Bool { messages == 0 && latencies.isEmpty }
    }

    @usableFromInline var table: [Key: Entry] = [:]
    /// Channels with something to hand over, in the order they were first touched in the batch.
    @usableFromInline var touched: [Key] = []
    @usableFromInline var last: (key: Key, index: Dictionary<Key, Entry>.Index)?
    public let capacity: Int

    @inlinable public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// Whether nothing was counted since the last hand-over.
    @inlinable public var isEmpty: Bool { touched.isEmpty }

    /// Applies `change` to `key`'s entry, creating it with `newEntry` (the key to store, which
    /// may be a copy, and the channel's name) the first time. Returns the batch so far, stamped
    /// `now()`, when the table was full and had to start afresh: hand it over first.
    @inlinable @inline(__always)
    public mutating func update(_ key: Key, now: () -> Double, newEntry: (Key) -> (key: Key, name: String),
                                _ change: (inout Entry) -> Void) -> [Observation]? {
        var handOver: [Observation]?
        let index: Dictionary<Key, Entry>.Index
        if let last, last.key == key {
            index = last.index
        } else if let found = table.index(forKey: key) {
            index = found
        } else {
            if table.count >= capacity {
                handOver = observations(at: now())
                table.removeAll()
            }
            let (stored, name) = newEntry(key)
            table[stored] = Entry(name: name)
            index = table.index(forKey: stored)!
        }
        last = (table.keys[index], index)
        if table.values[index].isEmpty { touched.append(table.keys[index]) }
        change(&table.values[index])
        return handOver
    }

    /// The batch as observations (`traffic` and `latencies` per channel, in first-touched order),
    /// and a fresh batch. `unrouted` overrides an entry's own count (a Redis source decides it
    /// per channel from its subscriber counts).
    @inlinable public mutating func observations(at time: Double, unrouted: ((Key, Entry) -> Int)? = nil) -> [Observation] {
        var out: [Observation] = []
        out.reserveCapacity(touched.count)
        for key in touched {
            guard var entry = table[key] else { continue }
            if entry.messages > 0 {
                out.append(.traffic(channel: entry.name, messages: entry.messages, bytes: entry.bytes,
                                    unrouted: unrouted?(key, entry) ?? entry.unrouted, patternReceivers: entry.patternReceivers, at: time))
            }
            if !entry.latencies.isEmpty { out.append(.latencies(channel: entry.name, samples: entry.latencies)) }
            entry.messages = 0
            entry.bytes = 0
            entry.unrouted = 0
            entry.latencies = []
            table[key] = entry
        }
        touched.removeAll(keepingCapacity: true)
        last = nil
        return out
    }

    /// The channels touched in this batch, in order.
    @inlinable public var touchedKeys: [Key] { touched }
}
