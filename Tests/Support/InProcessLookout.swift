#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import Logging
import LookoutApplication
import LookoutConfiguration
import NIOPosix
import Relay
import ServiceLifecycle

/// `lookout serve` run inside the test process: the same flags, resolved the same way, the
/// same ``LookoutApplication``, with real sockets on loopback port 0. Stop it with ``stop()``
/// (a graceful shutdown, as SIGTERM gives the process); if a test fails before that, the
/// application is cancelled when this object goes away.
package final class InProcessLookout: Sendable {
    package let application: LookoutApplication
    /// The relay's port (0 with `--no-relay`).
    package let port: Int
    /// The relay's TLS port (0 without `--relay-tls`).
    package let tlsPort: Int
    package let metricsPort: Int
    /// The database this application writes (see ``temporaryDatabase(_:)``).
    package let databasePath: String?
    private let ownsDatabase: Bool
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    /// The application's own threads (its tasks, its HTTP server and clients, its store's
    /// writes): another suite's busy Lookout or blocking test never delays this one.
    private let executor: DedicatedExecutor
    private let eventLoops: MultiThreadedEventLoopGroup
    private let threadPool: NIOThreadPool

    /// - Parameters:
    ///   - arguments: `lookout serve` flags; the relay and HTTP addresses default to 127.0.0.1:0.
    ///   - environment: what the flags' environment fallbacks read.
    package init(arguments: [String] = [], environment: [String: String] = [:], seconds: Double = 30) async throws {
        var arguments = arguments
        (databasePath, ownsDatabase) = temporaryDatabase(&arguments)
        let options = try ServeOptions.parse(["--relay", "127.0.0.1:0", "--metrics", "127.0.0.1:0"] + arguments)
        let configuration = try options.resolve(environment: environment)
        var logger = Logger(label: "test.lookout")
        // LOOKOUT_TEST_LOG_LEVEL=debug shows what the application did, when a test needs explaining.
        logger.logLevel = ProcessInfo.processInfo.environment["LOOKOUT_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let executor = DedicatedExecutor(threads: 2)
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        let application: LookoutApplication
        do {
            // No fatal error when a cancelled service is slow to end: a few dozen Lookouts share
            // this process, and one slow cancellation (on a pool kept busy by the other suites)
            // must not end every test with it. ServiceWatch logs the service instead.
            application = try LookoutApplication(configuration: configuration, shutdownTimeout: .seconds(5), cancellationLimit: nil, logger: logger,
                                                 eventLoopGroup: eventLoops, threadPool: threadPool)
        } catch {
            executor.shutDown(after: Task<Void, any Error> {}, with: [eventLoops], [threadPool])
            throw error
        }
        (self.executor, self.eventLoops, self.threadPool) = (executor, eventLoops, threadPool)
        self.application = application
        let group = ServiceGroup(configuration: .init(services: [.init(service: application)], logger: logger))
        self.group = group
        task = executor.start { try await group.run() }
        let relayed = configuration.relayEnabled
        let plain = configuration.relay.tls?.only != true
        let secure = configuration.relay.tls != nil
        let bound = await eventually(seconds: seconds) {
            (!relayed || ((application.relayPort != nil || !plain) && (application.relayTLSPort != nil || !secure))) && application.httpPort != nil
        }
        guard bound != nil, let http = application.httpPort else {
            task.cancel()
            executor.shutDown(after: task, with: [eventLoops], [threadPool])
            throw TestFailure("the application did not listen within \(seconds)s")
        }
        port = application.relayPort ?? 0
        tlsPort = application.relayTLSPort ?? 0
        metricsPort = http
    }

    /// Graceful shutdown, as `lookout serve` does on SIGTERM; returns once every service
    /// stopped, with how long that took, timed on the application's own threads (a test's own
    /// task may wait for the concurrency pool before it sees the stop end).
    @discardableResult
    package func stop() async throws -> Duration {
        let stopping = executor.start { [group, task] in
            let started = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await task.value
            return ContinuousClock.now - started
        }
        executor.shutDown(after: stopping, with: [eventLoops], [threadPool])
        return try await stopping.value
    }

    deinit {
        task.cancel()
        executor.shutDown(after: task, with: [eventLoops], [threadPool])
        if ownsDatabase, let databasePath { removeDatabase(databasePath) }
    }

    /// GET `path` from the HTTP server; returns the status code and body. The blocking client
    /// runs off the concurrency pool (``offThePool(_:)``).
    package func get(_ path: String) async throws -> (status: Int, body: String) {
        let port = metricsPort
        return try await offThePool { try httpGet(port: port, path: path) }
    }
}
