import Foundation
import NIOCore
import NIOPosix
import Synchronization

// The concurrency pool has as many threads as cores (two here), and swift-testing runs every
// suite on it at once. Whatever a test blocks on (a socket read, a child process) must not
// hold one of those threads, and what a test measures (a service on a manual clock, the
// in-process Lookout) must not wait behind another suite's blocking I/O: each gets threads
// of its own.

/// Threads for the code under test: a task started on it (``start(_:)``) and its child tasks
/// run here rather than on the concurrency pool. The threads share one queue, so a long job
/// holds one thread, not the jobs queued behind it.
package final class DedicatedExecutor: TaskExecutor {
    private let pool: NIOThreadPool
    private let shutting = Mutex(false)

    package init(threads: Int) {
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pool.submit { _ in job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// Starts `body` (a service's `run()`, a service group) here.
    package func start<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Task<T, any Error> {
        Task.detached(executorPreference: self) { try await body() }
    }

    /// Stops the threads once `task` has ended (the last thing started here), with the event
    /// loops and thread pools given; once only.
    package func shutDown<T>(after task: Task<T, any Error>, with eventLoops: [MultiThreadedEventLoopGroup] = [], _ pools: [NIOThreadPool] = []) {
        let already = shutting.withLock { shutting in
            defer { shutting = true }
            return shutting
        }
        guard !already else { return }
        let pool = self.pool
        Task.detached {
            _ = await task.result
            for loops in eventLoops { try? await loops.shutdownGracefully() }
            for other in pools + [pool] { try? await other.shutdownGracefully() }
        }
    }

    /// For services that tests start themselves; the in-process Lookout has its own.
    package static let services = DedicatedExecutor(threads: 4)
}

/// Starts `body` (a service's `run()`, a service group) on ``DedicatedExecutor/services``.
@discardableResult
package func startOnServiceThreads<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Task<T, any Error> {
    DedicatedExecutor.services.start(body)
}

/// Threads for blocking test I/O, which the code under test never shares (its own pools, or
/// NIO's singletons when a test builds a part without them).
private let blockingTestIO: NIOThreadPool = {
    let pool = NIOThreadPool(numberOfThreads: 16)
    pool.start()
    return pool
}()

/// Runs blocking test I/O (a socket read, an HTTP GET) on threads kept for it, so that an
/// async test never holds one of the concurrency pool's threads while it waits.
package func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await blockingTestIO.runIfActive(body)
}

/// Runs a long blocking job (a minute-long load loop) on a thread of its own.
package func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try body() })
        }
    }
}
