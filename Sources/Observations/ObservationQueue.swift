import LookoutCore
import NIOCore
import Synchronization

/// A bounded hand-over from a source (on the relay's event loop or a Redis reader thread) to the
/// monitor. `offer` never blocks and never waits for the consumer: when the queue is full the
/// observation is dropped and counted, so a slow monitor can never slow the relay.
public final class ObservationQueue: Sendable {
    private let items: Mutex<CircularBuffer<Observation>>
    private let dropped = Atomic<UInt64>(0)
    /// Observations accepted since the start, and taken by `drain`: a reader that wants what was
    /// offered before it came waits until `takenCount` reaches the `offeredCount` it saw.
    private let offered = Atomic<UInt64>(0)
    private let taken = Atomic<UInt64>(0)
    public let capacity: Int

    public init(capacity: Int = 262_144) {
        self.capacity = capacity
        self.items = Mutex(CircularBuffer(initialCapacity: 1024))
    }

    /// Adds an observation, or counts it as dropped when the queue is full; returns whether it
    /// was added.
    @discardableResult
    public func offer(_ observation: Observation) -> Bool {
        let accepted = items.withLock { items -> Bool in
            guard items.count < capacity else { return false }
            items.append(observation)
            offered.add(1, ordering: .releasing)
            return true
        }
        if !accepted { dropped.add(1, ordering: .relaxed) }
        return accepted
    }

    /// Takes what is queued so far, the oldest `limit` at most, and whether that was all. An
    /// empty queue is left as it is (the monitor drains every 10 ms: an idle one allocated a new
    /// buffer each time).
    public func drain(limit: Int = .max) -> (observations: CircularBuffer<Observation>, all: Bool) {
        items.withLock { items in
            guard !items.isEmpty else { return (Self.nothing, true) }
            guard items.count > limit else {
                taken.add(UInt64(items.count), ordering: .releasing)
                defer { items = CircularBuffer(initialCapacity: 1024) }
                return (items, true)
            }
            let batch = CircularBuffer(items.prefix(limit))
            items.removeFirst(limit)
            taken.add(UInt64(limit), ordering: .releasing)
            return (batch, false)
        }
    }

    /// Empties the queue, counting what it held as dropped; returns how many that was.
    public func discardAll() -> Int {
        let count = items.withLock { items in
            defer { items.removeAll() }
            return items.count
        }
        dropped.add(UInt64(count), ordering: .relaxed)
        taken.add(UInt64(count), ordering: .releasing)
        return count
    }

    /// How many observations have been accepted since the start.
    public var offeredCount: UInt64 { offered.load(ordering: .acquiring) }

    /// How many have been taken by `drain` since the start.
    public var takenCount: UInt64 { taken.load(ordering: .acquiring) }

    private static let nothing = CircularBuffer<Observation>()

    /// Observations lost because the queue was full.
    public var droppedCount: UInt64 { dropped.load(ordering: .relaxed) }

    /// Observations offered and not yet taken (a moment's reading).
    public var pendingCount: Int { Int(truncatingIfNeeded: offeredCount &- takenCount) }
}
