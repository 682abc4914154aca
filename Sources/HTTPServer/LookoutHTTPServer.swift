import Foundation
import Hummingbird
import Logging
import LookoutCore
import Monitor
import NIOCore
import NIOPosix

/// Lookout's HTTP endpoints: the status page at `/`, `/metrics` (Prometheus text format),
/// `/healthz`, `/readyz` and the JSON API under `/api/v1`.
public enum LookoutHTTPServer {
    /// What the endpoints read from.
    public struct Dependencies: Sendable {
        public var metrics: MonitorMetrics
        public var monitor: ChannelMonitor
        /// Sources that are not connected, each named with why; `/readyz` is ready when it is empty.
        public var sourcesNotReady: @Sendable () async -> [String]
        /// The database the history endpoints read (read-only), or nil without one (`--no-db`).
        public var storePath: String?
        /// Seconds since the epoch: the end of history ranges.
        public var wallClock: @Sendable () -> Double = wallClockSeconds
        /// What a request must carry to read anything but `/healthz` and `/readyz`; nil: nothing.
        public var credentials: HTTPCredentials?
        /// Who sends Lookout's notifications (an HA group's lease holder, or this instance alone).
        public var notifications: @Sendable () -> NotificationStatus = { NotificationStatus() }
        /// The event contracts checked (read once at start).
        public var contracts = ContractSet([])
        /// Redis Streams consumer groups as last polled (none without `streams.match`).
        public var streams: @Sendable () -> [StreamGroupStatus] = { [] }

        public init(metrics: MonitorMetrics, monitor: ChannelMonitor, storePath: String? = nil) {
            self.metrics = metrics
            self.monitor = monitor
            self.storePath = storePath
            self.sourcesNotReady = { await monitor.sourcesNotReadyWithReasons().map { "\($0.name) (\($0.reason))" } }
        }
    }

    /// The router with every endpoint, usable on its own in tests.
    public static func router(_ dependencies: Dependencies) -> Router<BasicRequestContext> {
        let router = Router()
        // Probes stay open: they say only whether Lookout is up and ready.
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let waiting = await dependencies.sourcesNotReady()
            let body = waiting.isEmpty ? "ready\n" : "not ready: " + waiting.joined(separator: ", ") + "\n"
            return Response(status: waiting.isEmpty ? .ok : .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        // Everything added after this needs the credentials, when there are any.
        if let credentials = dependencies.credentials { router.add(middleware: AuthorizationMiddleware(credentials: credentials)) }
        router.get("/metrics") { _, _ -> Response in
            await dependencies.monitor.caughtUp()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: dependencies.metrics.exposition())
            )
        }
        router.get("/") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: StatusPage.html)))
        }
        API.routes(on: router, dependencies)
        return router
    }

    /// The HTTP server as a `Service`, listening on `host:port`; `onServerRunning` is told the
    /// bound channel (its port, when `port` is 0).
    public static func application(
        _ dependencies: Dependencies, host: String, port: Int, logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(dependencies),
            configuration: .init(address: .hostname(host, port: port), serverName: "lookout"),
            onServerRunning: onServerRunning,
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger
        )
    }
}
