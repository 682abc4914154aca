import GracefulStop
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import TLSSupport
import PubSubCore
import ServiceLifecycle
import Synchronization

/// Lookout's embedded pub/sub relay: a server that speaks the Redis protocol (RESP2 and RESP3)
/// for the pub/sub commands, so that any Redis client can publish and subscribe through it.
///
/// Run it as a `Service` in a `ServiceGroup` (it stops on graceful shutdown), or call
/// ``start()`` and ``stop()`` directly, as tests do.
public final class RelayServer: Service, Sendable {
    public let configuration: RelayConfiguration
    private let core: RelayCore
    private let group: any EventLoopGroup
    private let ownsGroup: Bool
    private let serverChannel = Mutex<(any Channel)?>(nil)
    private let tlsServerChannel = Mutex<(any Channel)?>(nil)
    /// The context new TLS connections start with; replaced by ``reloadCertificates()``.
    private let tlsContext = Mutex<NIOSSLContext?>(nil)
    /// Set once ``stop()`` begins: from then on nothing more is submitted to the event loop,
    /// which is about to shut down (a task submitted to a shut-down loop never completes).
    private let stopped = Atomic<Bool>(false)

    /// - Parameters:
    ///   - configuration: address, password and limits.
    ///   - observer: the monitor's tap, or nil.
    ///   - eventLoop: the loop to run on; by default the relay starts its own single-threaded
    ///     group. All clients share one loop, as Redis serves them from one thread.
    public init(
        configuration: RelayConfiguration,
        observer: (any RelayObserver)? = nil,
        eventLoop: (any EventLoop)? = nil,
        logger: Logger = Logger(label: "lookout.relay")
    ) {
        self.configuration = configuration
        if let eventLoop {
            self.group = eventLoop
            self.ownsGroup = false
        } else {
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            self.ownsGroup = true
        }
        self.core = RelayCore(eventLoop: group.next(), configuration: configuration, logger: logger)
        self.core.observer = observer
    }

    /// Binds and starts accepting clients: on the plain port, and on the TLS port when
    /// configured (reading its certificate files). Returns the first bound address (useful with
    /// port 0): the plain one, unless TLS only.
    /// - Throws: ``TLSFileError`` when a certificate file cannot be used; the bind's error.
    @discardableResult
    public func start() async throws -> SocketAddress {
        if let tls = configuration.tls {
            let context = try tls.makeContext()
            tlsContext.withLock { $0 = context }
        }
        var first: SocketAddress?
        if configuration.tls?.only != true {
            let channel = try await bind(host: configuration.host, port: configuration.port, tls: false)
            serverChannel.withLock { $0 = channel }
            first = channel.localAddress
            core.logger.info("relay listening", metadata: [
                "address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "port": "\(channel.localAddress?.port ?? 0)",
            ])
        }
        if let tls = configuration.tls {
            let channel = try await bind(host: tls.host, port: tls.port, tls: true)
            tlsServerChannel.withLock { $0 = channel }
            first = first ?? channel.localAddress
            core.logger.info("relay TLS listening", metadata: [
                "address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "port": "\(channel.localAddress?.port ?? 0)",
                "client_certificates": "\(tls.authenticateClients.rawValue)",
            ])
        }
        return first!
    }

    private func bind(host: String, port: Int, tls: Bool) async throws -> any Channel {
        let core = self.core
        // Keep-alive as Redis sets it (anetKeepAlive): idle time, then probes every third of it, three of them.
        let idle = configuration.tcpKeepalive
        func tcp(_ option: Int32) -> ChannelOptions.Types.SocketOption {
            .init(level: .tcp, name: NIOBSDSocket.Option(rawValue: option))
        }
        return try await ServerBootstrap(group: core.eventLoop)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.socketOption(.so_keepalive), value: idle > 0 ? 1 : 0)
            .childChannelOption(tcp(TCP_KEEPIDLE), value: max(1, idle))
            .childChannelOption(tcp(TCP_KEEPINTVL), value: max(1, idle / 3))
            .childChannelOption(tcp(TCP_KEEPCNT), value: 3)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    // Each connection keeps the context it started with; a reload changes only
                    // what the next ones get.
                    if tls, let context = self.tlsContext.withLock({ $0 }) {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try channel.pipeline.syncOperations.addHandler(RelayConnectionHandler(core: core, writesDirectly: !tls))
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    /// Reads the TLS certificate, key and CA files again (after a renewal; SIGHUP in
    /// `lookout serve`): new connections get them, connections already open keep theirs. On
    /// an error the previous certificates stay in use.
    /// - Throws: ``TLSFileError`` naming the file that could not be used.
    public func reloadCertificates() throws(TLSFileError) {
        guard let tls = configuration.tls else { return }
        let context = try tls.makeContext()
        tlsContext.withLock { $0 = context }
        core.logger.info("relay TLS certificates reloaded", metadata: ["certificate": "\(tls.certificatePath)"])
    }

    /// Stops accepting, closes every client, and releases the event loop if the relay owns it.
    public func stop() async {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let listeners: [(any Channel)?] = [serverChannel.withLock { channel in defer { channel = nil }; return channel },
                         tlsServerChannel.withLock { channel in defer { channel = nil }; return channel }]
        for case let channel? in listeners { try? await channel.close() }
        let core = self.core
        try? await core.eventLoop.submit {
            for client in core.clients.values { client.channel.close(promise: nil) }
        }.get()
        if ownsGroup {
            try? await group.shutdownGracefully()
        }
    }

    public func run() async throws {
        try await start()
        await waitForGracefulShutdown()
        core.logger.info("relay shutting down")
        await stop()
    }

    /// Publishes a message from Lookout itself (e.g. alerts on `lookout:alerts`); returns the receiver count.
    @discardableResult
    public func publish(channel: String, payload: String) async throws -> Int {
        try await publish(channel: channel, payloads: [payload])[0]
    }

    /// Publishes `payloads` on `channel` in order, in one turn of the event loop; returns each one's receivers.
    public func publish(channel: String, payloads: [String]) async throws -> [Int] {
        try checkRunning()
        let core = self.core
        return try await core.eventLoop.submit {
            let name = ByteBuffer(string: channel)
            let receivers = payloads.map { core.publish(channel: name, payload: ByteBuffer(string: $0), sharded: false, publisher: nil) }
            core.flushAll()
            return receivers
        }.get()
    }

    /// The port the relay listens on once bound (the one the system chose for port 0), or nil.
    public var boundPort: Int? {
        serverChannel.withLock { $0?.localAddress?.port }
    }

    /// The TLS port once bound, or nil.
    public var boundTLSPort: Int? {
        tlsServerChannel.withLock { $0?.localAddress?.port }
    }

    private func checkRunning() throws(RelayStoppedError) {
        if stopped.load(ordering: .acquiring) { throw RelayStoppedError() }
    }

    /// Whether the relay is bound and accepting clients.
    public var isListening: Bool {
        get async { (serverChannel.withLock { $0?.isActive } ?? tlsServerChannel.withLock { $0?.isActive }) ?? false }
    }

    /// Subscribers of every channel that has any (patterns not counted), keyed by channel name.
    public func channelSubscriberCounts() async throws -> [String: Int] {
        try checkRunning()
        let core = self.core
        return try await core.eventLoop.submit {
            var counts: [String: Int] = [:]
            for name in core.registry.names(kind: .channel) {
                counts[String(buffer: name), default: 0] += core.registry.subscriberCount(of: name, kind: .channel)
            }
            return counts
        }.get()
    }

    /// Output not yet read by each named subscriber (CLIENT LIST's `omem`), summed per name.
    public func namedSubscriberOutputBytes() async throws -> [String: Int] {
        try checkRunning()
        let core = self.core
        return try await core.eventLoop.submit {
            var bytes: [String: Int] = [:]
            for client in core.clients.values where !client.name.isEmpty && client.subscriptionCount > 0 {
                bytes[client.name, default: 0] += core.outputBytes(client)
            }
            return bytes
        }.get()
    }

    /// A snapshot of the relay's counters and sizes.
    public func statistics() async throws -> RelayStatistics {
        try checkRunning()
        let core = self.core
        return try await core.eventLoop.submit {
            var stats = core.stats
            stats.connectedClients = core.clients.count
            stats.channels = core.registry.names(kind: .channel).count
            stats.patterns = core.registry.patternCount
            stats.shardChannels = core.registry.names(kind: .shardChannel).count
            return stats
        }.get()
    }
}

/// The relay has stopped: it publishes nothing more and has no statistics to give.
public struct RelayStoppedError: Error, CustomStringConvertible {
    public var description: String { "the relay has stopped" }
}
