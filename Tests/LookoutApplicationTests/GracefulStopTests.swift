import Foundation
import GracefulStop
import Logging
import LookoutTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// Waiting for a stop: woken by the shutdown itself, not by a task on the shared pool.
@Suite struct GracefulStopTests {
    /// A service that waits for the stop, then says so.
    private struct Waiter: Service {
        let stopped: DispatchSemaphore
        func run() async throws {
            await waitForGracefulShutdown()
            stopped.signal()
        }
    }

    @Test func aStopIsNoticedWhileTheSharedPoolIsBusy() async throws {
        let stopped = DispatchSemaphore(value: 0)
        let group = ServiceGroup(configuration: .init(services: [.init(service: Waiter(stopped: stopped))], logger: Logger(label: "test")))
        let executor = DedicatedExecutor(threads: 1)
        let running = executor.start { try await group.run() }
        defer { executor.shutDown(after: running) }
        // Every thread of the shared pool held (as blocking tests hold them), then the stop
        // triggered from the executor: the waiter must wake without the pool.
        let (poolHeld, noticed) = try await onOwnThread {
            let width = ProcessInfo.processInfo.activeProcessorCount
            let holding = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            for _ in 0..<width {
                Task.detached { holding.signal(); release.wait() }
            }
            defer { for _ in 0..<width { release.signal() } }
            for _ in 0..<width where holding.wait(timeout: .now() + 30) == .timedOut { return (false, false) }
            let probe = DispatchSemaphore(value: 0)
            Task.detached { probe.signal() }
            _ = executor.start { await group.triggerGracefulShutdown() }
            let noticed = stopped.wait(timeout: .now() + 5) == .success
            return (probe.wait(timeout: .now()) == .timedOut, noticed)
        }
        #expect(poolHeld, "the shared pool was not held: the test proves nothing on this machine")
        #expect(noticed, "the stop was not noticed within 5 s while the shared pool was busy")
        try await running.value
    }

    @Test func aStopCancelsTheOperationAndWaitsForIt() async throws {
        let ended = DispatchSemaphore(value: 0)
        let group = ServiceGroup(configuration: .init(services: [.init(service: Operation(ended: ended))], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(50))
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(ended.wait(timeout: .now()) == .success, "cancelWhenStopping returned only once the operation had")
    }

    @Test func anOperationThatEndsByItselfEndsTheWait() async {
        let result = Mutex(0)
        await cancelWhenStopping { result.withLock { $0 = 42 } }
        #expect(result.withLock { $0 } == 42)
    }

    @Test func cancellationEndsTheWaitOutsideAServiceGroup() async {
        let waiting = Task { await waitForGracefulShutdown() }
        waiting.cancel()
        await waiting.value
    }

    /// Sleeps until cancelled, then notes that it ended.
    private struct Operation: Service {
        let ended: DispatchSemaphore
        func run() async throws {
            await cancelWhenStopping { [ended] in
                while (try? await Task.sleep(for: .seconds(60))) != nil {}
                ended.signal()
            }
        }
    }
}
