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

    /// Each channel's slot in `entries` and `keys`, kept between batches.
    @usableFromInline var slots: [Key: Int] = [:]
    @usableFromInline var keys: [Key] = []
    @usableFromInline var entries: [Entry] = []
    /// Slots with something to hand over, in the order they were first touched in the batch.
    @usableFromInline var touched: [Int] = []
    @usableFromInline var last: (key: Key, slot: Int)?
    /// Counts the times the table started afresh: part of every ``Slot`` handed out, so a slot
    /// from before is known to be stale.
    @usableFromInline var generation: UInt32 = 0
    public let capacity: Int

    /// A channel's place in the table, for updates that do not look the channel up again (the
    /// relay hands it back with each delivery). Stale, and ignored, once the table starts afresh.
    public struct Slot: Sendable, Hashable {
        @usableFromInline let index: Int32
        @usableFromInline let generation: UInt32
        @inlinable init(index: Int, generation: UInt32) {
            self.index = Int32(truncatingIfNeeded: index)
            self.generation = generation
        }

        /// The slot as one integer, for a source that carries it along.
        @inlinable public var rawValue: Int { Int(generation) << 32 | Int(UInt32(bitPattern: index)) }

        @inlinable public init(rawValue: Int) {
            self.index = Int32(bitPattern: UInt32(truncatingIfNeeded: rawValue))
            self.generation = UInt32(truncatingIfNeeded: rawValue >> 32)
        }
    }

    @inlinable public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// Whether nothing was counted since the last hand-over.
    @inlinable public var isEmpty: Bool { touched.isEmpty }

    /// `key`'s slot, made with `newEntry` (the key to store, which may be a copy, and the
    /// channel's name) the first time. `handOver` is the batch so far, stamped `now()`, when the
    /// table was full and had to start afresh: hand it over first.
    @inlinable @inline(__always)
    public mutating func slot(of key: Key, now: () -> Double, newEntry: (Key) -> (key: Key, name: String)) -> (slot: Slot, handOver: [Observation]?) {
        if let last, last.key == key { return (Slot(index: last.slot, generation: generation), nil) }
        var handOver: [Observation]?
        let index: Int
        if let found = slots[key] {
            index = found
        } else {
            if entries.count >= capacity {
                handOver = observations(at: now())
                slots.removeAll()
                keys.removeAll()
                entries.removeAll()
                generation &+= 1
            }
            let (stored, name) = newEntry(key)
            index = entries.count
            slots[stored] = index
            keys.append(stored)
            entries.append(Entry(name: name))
        }
        last = (keys[index], index)
        return (Slot(index: index, generation: generation), handOver)
    }

    /// Applies `change` to the entry in `slot`; returns false, changing nothing, for a stale slot.
    @inlinable @inline(__always) @discardableResult
    public mutating func update(_ slot: Slot, _ change: (inout Entry) -> Void) -> Bool {
        guard slot.generation == generation else { return false }
        let index = Int(slot.index)
        if entries[index].isEmpty { touched.append(index) }
        change(&entries[index])
        return true
    }

    /// Applies `change` to `key`'s entry (see ``slot(of:now:newEntry:)``); returns the batch so
    /// far when the table had to start afresh.
    @inlinable @inline(__always)
    public mutating func update(_ key: Key, now: () -> Double, newEntry: (Key) -> (key: Key, name: String),
                                _ change: (inout Entry) -> Void) -> [Observation]? {
        let (slot, handOver) = self.slot(of: key, now: now, newEntry: newEntry)
        update(slot, change)
        return handOver
    }

    /// The batch as observations (`traffic` and `latencies` per channel, in first-touched order),
    /// and a fresh batch. `unrouted` overrides an entry's own count (a Redis source decides it
    /// per channel from its subscriber counts).
    @inlinable public mutating func observations(at time: Double, unrouted: ((Key, Entry) -> Int)? = nil) -> [Observation] {
        var out: [Observation] = []
        out.reserveCapacity(touched.count)
        for index in touched {
            let entry = entries[index]
            if entry.messages > 0 {
                out.append(.traffic(channel: entry.name, messages: entry.messages, bytes: entry.bytes,
                                    unrouted: unrouted?(keys[index], entry) ?? entry.unrouted, patternReceivers: entry.patternReceivers, at: time))
            }
            if !entry.latencies.isEmpty { out.append(.latencies(channel: entry.name, samples: entry.latencies)) }
            entries[index].messages = 0
            entries[index].bytes = 0
            entries[index].unrouted = 0
            entries[index].latencies = []
        }
        touched.removeAll(keepingCapacity: true)
        return out
    }

    /// The channels touched in this batch, in order.
    @inlinable public var touchedKeys: [Key] { touched.map { keys[$0] } }
}
