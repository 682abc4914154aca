import ServiceLifecycle
import Synchronization

// swift-service-lifecycle's `gracefulShutdown()` and `cancelWhenGracefulShutdown(_:)` wake their
// waiter from an unstructured task, on the shared concurrency pool: a stop then waits for that
// pool, whatever executor the service runs on, and a pool kept busy held a stop past the
// service group's cancellation limit (whose end is a fatal error). These wake the waiting task
// directly, from the call that triggers the shutdown or cancels the task.

/// Returns once graceful shutdown is triggered or the task is cancelled (at once if either
/// already happened). Outside a service group, only cancellation ends it.
public func waitForGracefulShutdown() async {
    let waiter = StopWaiter()
    await withTaskCancellationHandler {
        await withGracefulShutdownHandler {
            await waiter.wait()
        } onGracefulShutdown: {
            waiter.release()
        }
    } onCancel: {
        waiter.release()
    }
}

/// Runs `operation` until it returns; graceful shutdown (or cancellation) cancels it, and this
/// returns once it has returned.
public func cancelWhenStopping(_ operation: @escaping @Sendable () async -> Void) async {
    await withTaskGroup(of: Void.self) { group in
        group.addTask { await operation() }
        group.addTask { await waitForGracefulShutdown() }
        await group.next()
        group.cancelAll()
    }
}

/// One wait, released once: a release before the wait ends it at once.
private final class StopWaiter: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Void, Never>?)
        case released
    }

    private let state = Mutex(State.waiting(nil))

    func wait() async {
        await withCheckedContinuation { continuation in
            let released = state.withLock { state in
                guard case .waiting = state else { return true }
                state = .waiting(continuation)
                return false
            }
            if released { continuation.resume() }
        }
    }

    func release() {
        let waiting = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state = .released }
            guard case .waiting(let continuation) = state else { return nil }
            return continuation
        }
        waiting?.resume()
    }
}
