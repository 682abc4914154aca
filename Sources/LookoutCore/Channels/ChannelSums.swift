/// One batch of traffic summed per channel: what the relay's tap hands the monitor once per
/// read batch instead of once per message. Pure; channels are found from their names' bytes
/// with a ``ChannelIndex`` (no `String`, no `Hasher`), once per run of messages: the run and
/// each delivery then count by ``Slot``.
///
/// Entries are kept between batches (their counts reset), so a steady set of channels costs no
/// allocation per batch. At most `capacity` channels are remembered: past it the table starts
/// afresh, and the slots handed out before are stale.
public struct ChannelSums {
    /// One channel's sums in the current batch.
    public struct Entry {
        public var name: String
        public var messages = 0
        public var bytes = 0
        public var unrouted = 0
        /// Pattern subscriptions that received the batch's last message; nil when the source cannot tell.
        public var patternReceivers: Int?
        public var latencies: [LatencySample] = []

        init(name: String) { self.name = name }

        var isEmpty: Bool { messages == 0 && latencies.isEmpty }
    }

    /// A channel's place in the table, for updates that do not look the channel up again (the
    /// relay hands it back with each delivery). Stale, and refused, once the table starts afresh.
    public struct Slot: Sendable, Hashable {
        let index: Int32
        let generation: UInt32

        init(index: Int, generation: UInt32) {
            self.index = Int32(truncatingIfNeeded: index)
            self.generation = generation
        }

        /// The slot as one integer, for a source that carries it along.
        public var rawValue: Int { Int(generation) << 32 | Int(UInt32(bitPattern: index)) }

        public init(rawValue: Int) {
            self.index = Int32(bitPattern: UInt32(truncatingIfNeeded: rawValue))
            self.generation = UInt32(truncatingIfNeeded: rawValue >> 32)
        }
    }

    /// Numbers each channel: its number is its slot's index in `entries`.
    private var index = ChannelIndex()
    private var entries: [Entry] = []
    /// Slots with something to hand over, in the order they were first touched in the batch.
    private var touched: [Int] = []
    /// Counts the times the table started afresh: part of every slot handed out.
    private var generation: UInt32 = 0
    public let capacity: Int

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// Whether nothing was counted since the last hand-over.
    public var isEmpty: Bool { touched.isEmpty }

    /// The slot of the channel named `name`. `handOver` is the batch so far, stamped `now()`,
    /// when the table was full and had to start afresh: hand it over first.
    public mutating func slot(of name: UnsafeRawBufferPointer, now: () -> Double) -> (slot: Slot, handOver: [Observation]?) {
        var (number, isNew) = index.number(of: name)
        var handOver: [Observation]?
        if isNew {
            if number >= capacity {
                handOver = observations(at: now())
                index.removeAll()
                entries.removeAll(keepingCapacity: true)
                generation &+= 1
                number = index.number(of: name).number
            }
            entries.append(Entry(name: String(decoding: name, as: UTF8.self)))
        }
        return (Slot(index: number, generation: generation), handOver)
    }

    /// Applies `change` to the entry in `slot`; returns false, changing nothing, for a stale slot.
    @discardableResult
    public mutating func update(_ slot: Slot, _ change: (inout Entry) -> Void) -> Bool {
        guard slot.generation == generation else { return false }
        let number = Int(slot.index)
        if entries[number].isEmpty { touched.append(number) }
        change(&entries[number])
        return true
    }

    /// Applies `change` to the entry of the channel named `name`; returns the batch so far when
    /// the table had to start afresh (see ``slot(of:now:)``).
    public mutating func update(_ name: UnsafeRawBufferPointer, now: () -> Double, _ change: (inout Entry) -> Void) -> [Observation]? {
        let (slot, handOver) = self.slot(of: name, now: now)
        update(slot, change)
        return handOver
    }

    /// The batch as observations (`traffic` and `latencies` per channel, in first-touched
    /// order), and a fresh batch.
    public mutating func observations(at time: Double) -> [Observation] {
        var out: [Observation] = []
        out.reserveCapacity(touched.count)
        for number in touched {
            let entry = entries[number]
            if entry.messages > 0 {
                out.append(.traffic(channel: entry.name, messages: entry.messages, bytes: entry.bytes,
                                    unrouted: entry.unrouted, patternReceivers: entry.patternReceivers, at: time))
            }
            if !entry.latencies.isEmpty { out.append(.latencies(channel: entry.name, samples: entry.latencies)) }
            entries[number].messages = 0
            entries[number].bytes = 0
            entries[number].unrouted = 0
            entries[number].latencies = []
        }
        touched.removeAll(keepingCapacity: true)
        return out
    }

    /// The names of the channels touched in this batch, in order.
    public var touchedNames: [String] { touched.map { entries[$0].name } }
}
