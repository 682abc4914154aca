import Synchronization

/// How many of the queue's observations the monitor's loop has applied, and the readers (a
/// scrape, the API) waiting for it to reach the count offered when they asked: woken by the
/// loop as it gets there, never polled.
final class AppliedMark: Sendable {
    private let applied = Atomic<UInt64>(0)
    private let waiters = Mutex<[Waiter]>([])
    private let nextWaiter = Atomic<UInt64>(0)

    private struct Waiter {
        let mark: UInt64
        let id: UInt64
        let continuation: CheckedContinuation<Void, Never>
    }

    /// The loop has applied `count` observations: wakes the readers waiting for that many or fewer.
    func advance(to count: UInt64) {
        guard count > applied.load(ordering: .relaxed) else { return }
        applied.store(count, ordering: .releasing)
        let due = waiters.withLock { waiting -> [Waiter] in
            let due = waiting.filter { $0.mark <= count }
            waiting.removeAll { $0.mark <= count }
            return due
        }
        for waiter in due { waiter.continuation.resume() }
    }

    /// Returns once `mark` observations are applied, or after `timeout` (a monitor far behind is
    /// not waited for).
    func wait(until mark: UInt64, timeout: Duration) async {
        guard applied.load(ordering: .acquiring) < mark else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.reached(mark) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once `mark` is reached, or at once when cancelled.
    private func reached(_ mark: UInt64) async {
        let id = nextWaiter.add(1, ordering: .relaxed).newValue
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Checked under the waiters' lock: `advance` stores the count before it takes it.
                let ready = waiters.withLock { waiting -> Bool in
                    if applied.load(ordering: .acquiring) >= mark || Task.isCancelled { return true }
                    waiting.append(Waiter(mark: mark, id: id, continuation: continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let cancelled = waiters.withLock { waiting -> Waiter? in
                guard let index = waiting.firstIndex(where: { $0.id == id }) else { return nil }
                return waiting.remove(at: index)
            }
            cancelled?.continuation.resume()
        }
    }
}
