import LookoutCore
import Synchronization

/// Hands messages on contracted channels to the monitor for the integrity checks, within a
/// budget of events and bytes waiting to be judged: beyond it a message is skipped and counted
/// instead of queued, so that checking never slows delivery nor grows memory without bound.
/// With ``infersShapes``, also samples of the other channels' messages for shape inference
/// (within the same budget; a sample that does not fit is simply not taken).
/// Sources call ``offer(channel:payload:at:)`` from their own thread (the relay's event loop, a
/// Redis reader); the monitor takes what was skipped and releases what it judged.
public final class EventHandOver: Sendable {
    public let contracts: ContractSet
    /// Whether messages of channels without a contract are sampled (``offerSample(channel:payload:)``).
    public let infersShapes: Bool
    public let maxPendingEvents: Int
    public let maxPendingBytes: Int
    private let queue: ObservationQueue
    private let pendingEvents = Atomic<Int>(0)
    private let pendingBytes = Atomic<Int>(0)
    private let skipped = Mutex<[String: Int]>([:])

    public init(contracts: ContractSet, infersShapes: Bool = false, queue: ObservationQueue, maxPendingEvents: Int = 65_536,
                maxPendingBytes: Int = 64 << 20) {
        self.contracts = contracts
        self.infersShapes = infersShapes
        self.queue = queue
        self.maxPendingEvents = maxPendingEvents
        self.maxPendingBytes = maxPendingBytes
    }

    /// Whether a contract covers `channel` (callers cache the answer per channel).
    public func covers(_ channel: some Collection<UInt8>) -> Bool {
        contracts.contractIndex(for: channel) != nil
    }

    /// Queues the message for judging, or counts it skipped when the budget is spent or the
    /// queue is full. Only the first ``EventContract/maxPayloadBytes`` + 1 bytes are copied.
    public func offer(channel: String, payload: some Collection<UInt8>, at time: Double) {
        let copied = Array(payload.prefix(EventContract.maxPayloadBytes + 1))
        let events = pendingEvents.add(1, ordering: .relaxed).newValue
        let bytes = pendingBytes.add(copied.count, ordering: .relaxed).newValue
        if events <= maxPendingEvents && bytes <= maxPendingBytes && queue.offer(.event(channel: channel, payload: copied, at: time)) {
            return
        }
        release(bytes: copied.count)
        skipped.withLock { $0[channel, default: 0] += 1 }
    }

    /// Queues a sampled message of a channel without a contract for shape inference, when it
    /// fits the budget, is at most ``ShapeSampling/maxPayloadBytes``, and the observation queue
    /// is at most a quarter full: a sample never takes the place of the traffic counts.
    public func offerSample(channel: String, payload: some Collection<UInt8>) {
        guard payload.count <= ShapeSampling.maxPayloadBytes, queue.pendingCount < queue.capacity / 4 else { return }
        let events = pendingEvents.add(1, ordering: .relaxed).newValue
        let bytes = pendingBytes.add(payload.count, ordering: .relaxed).newValue
        if events <= maxPendingEvents && bytes <= maxPendingBytes && queue.offer(.sample(channel: channel, payload: Array(payload))) { return }
        release(bytes: payload.count)
    }

    /// Called by the monitor for each event judged or sample merged.
    public func release(bytes: Int) {
        pendingEvents.subtract(1, ordering: .relaxed)
        pendingBytes.subtract(bytes, ordering: .relaxed)
    }

    /// Messages skipped since the last call, per channel.
    public func takeSkipped() -> [String: Int] {
        skipped.withLock { skipped in
            defer { skipped = [:] }
            return skipped
        }
    }
}
