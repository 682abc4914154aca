import Foundation
import NIOCore
import NIOPosix

// The concurrency pool has as many threads as cores (two here), and swift-testing runs every
// suite on it at once. Whatever a test blocks on (a socket read, a child process) must not
// hold one of those threads, and what a test measures (a service on a manual clock, the
// in-process Lookout) must not wait behind another suite's blocking I/O: each gets threads
// of its own.

/// Threads for the code under test: a task started with ``startOnServiceThreads(_:)`` and
/// its child tasks run here rather than on the concurrency pool.
package final class DedicatedExecutor: TaskExecutor {
    private let loops: MultiThreadedEventLoopGroup

    package init(threads: Int) {
        loops = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loops.next().execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// Shared by every suite for the process's lifetime; work here does not block, so a few
    /// threads serve many services.
    package static let services = DedicatedExecutor(threads: 4)
}

/// Starts `body` (a service's `run()`, a service group) on ``DedicatedExecutor/services``.
@discardableResult
package func startOnServiceThreads<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Task<T, any Error> {
    Task.detached(executorPreference: DedicatedExecutor.services) { try await body() }
}

/// Threads for blocking test I/O; the code under test never shares them (it uses NIO's
/// singleton pool, e.g. for the store's writes).
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
