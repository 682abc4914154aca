import LookoutCore
import Synchronization

/// A clock that moves only when a test says so, for the periodic loops (monitor refresh, store
/// flush, notifier re-sends): hours of schedule are checked in milliseconds, with exact counts.
///
/// ``advance(by:)`` wakes the sleepers whose deadline has come, earliest first, and after each
/// one waits until that task is asleep on the clock again (a loop going round), so that what
/// it did in between is done when `advance` returns.
package final class ManualClock: Clock, Sendable {
    package struct Instant: InstantProtocol, Hashable, Comparable, Sendable {
        /// Time since the clock was made.
        package var offset: Duration

        package func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        package func duration(to other: Instant) -> Duration { other.offset - offset }
        package static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        let id: UInt64
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    /// The wall-clock time (seconds since the epoch) the clock's zero stands for.
    package let epoch: Double

    package init(epoch: Double = 1_800_000_000) {
        self.epoch = epoch
    }

    package var now: Instant { state.withLock { $0.now } }
    package var minimumResolution: Duration { .zero }

    /// Seconds since the epoch at the clock's current time: the injected wall clock.
    package var wallClock: @Sendable () -> Double {
        { [self] in epoch + now.offset.seconds }
    }

    package func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// How many tasks sleep on the clock now.
    package var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Waits (in real time, at most `seconds`) until at least `count` tasks sleep on the clock.
    @discardableResult
    package func waitForSleepers(_ count: Int, seconds: Double = 30) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while sleeperCount < count {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }

    /// Moves time forward by `duration`, waking every sleeper due on the way in deadline order.
    /// Returns false when a woken task did not sleep on the clock again within `settleSeconds`
    /// (real time): what it did since may not be done, so the caller's checks would mean
    /// nothing (`#expect(await clock.advance(by:))`).
    /// - Parameter settleSeconds: how long to wait for each woken task to sleep again; 0 when
    ///   the test knows it will not (a retry loop that ends).
    package func advance(by duration: Duration, settleSeconds: Double = 30) async -> Bool {
        let target = now.advanced(by: duration)
        var settled = true
        while true {
            let (woken, sleeping) = state.withLock { state -> (Sleeper?, Int) in
                guard let index = state.sleepers.indices.min(by: { state.sleepers[$0].deadline < state.sleepers[$1].deadline }),
                      state.sleepers[index].deadline <= target else {
                    state.now = max(state.now, target)
                    return (nil, state.sleepers.count)
                }
                let sleeper = state.sleepers.remove(at: index)
                state.now = max(state.now, sleeper.deadline)
                return (sleeper, state.sleepers.count)
            }
            guard let woken else { return settled }
            woken.continuation.resume()
            // The woken task runs until it sleeps again: wait for it, within a real-time bound
            // (a task that finished instead never comes back).
            if settleSeconds > 0, await !waitForSleepers(sleeping + 1, seconds: settleSeconds) { settled = false }
        }
    }
}
