import Alerting
import Foundation
import GracefulStop
import HTTPServer
import Leadership
import Logging
import LookoutConfiguration
import LookoutCore
import LookoutHeartbeat
import Monitor
import Observations
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import RedisSources
import Relay
import RelayMonitoring
import ServiceLifecycle
import Store
import Synchronization
import UnixSignals

/// Lookout as a library: everything `lookout serve` runs, wired from one resolved
/// ``ServeConfiguration`` and run as one `Service` (as Hummingbird's `Application` is).
///
/// Services start in dependency order and stop in reverse: the store, then the HA lease, the
/// notifiers, the monitor, the Redis sources, the relay and its series, the HTTP server (and the
/// demo traffic). So on a
/// graceful shutdown the HTTP server and the relay stop taking work first, the monitor applies
/// what is still queued, and the notifiers and the store it feeds are the last to stop. Each
/// stage has `shutdownTimeout` before the rest is cancelled.
///
/// Run it in a `ServiceGroup` (the CLI adds SIGTERM and SIGINT), or on its own in tests: ports
/// 0 bind free loopback ports, reported by ``relayPort`` and ``httpPort``.
public final class LookoutApplication: Service, Sendable {
    public let configuration: ServeConfiguration
    public let metrics: MonitorMetrics
    public let monitor: ChannelMonitor
    public let alerts: AlertRouter
    /// This instance's part in its HA group (`--ha-group`), if it is in one.
    public let leadership: NotificationLeadership?
    /// The embedded relay, unless `relay.enabled` is false.
    public let relay: RelayServer?
    /// The history writer, unless recording is off.
    public let store: StoreWriter?
    /// Longest wait for one service to stop before the rest are cancelled.
    public let shutdownTimeout: Duration
    /// How long the services may take to end once cancelled before the process ends on a fatal
    /// error (swift-service-lifecycle's backstop, so that a stop always ends); nil waits for them.
    public let cancellationLimit: Duration?
    private let services: [any Service]
    /// The monitor's own thread, below the relay's priority.
    private let monitorThread = BackgroundExecutor(name: "lookout-monitor")
    private let boundHTTPPort = BoundPort()
    private let logger: Logger

    /// Reads the TLS files, opens the store (restoring the consumers and alerts saved by the
    /// last run) and wires every part; nothing listens or connects until ``run()``.
    /// - Throws: ``ContractFileError`` when a contract's schema file cannot be used;
    ///   ``TLSFileError`` when a certificate, key or CA file cannot be used,
    ///   ``HTTPCredentialsError`` when the `--metrics-auth` file cannot,
    ///   ``StoreOpenError`` when the database cannot be opened or is not one.
    /// - Parameters:
    ///   - eventLoopGroup: for the HTTP server and the HTTP notifiers (the relay has its own).
    ///   - threadPool: for the store's writes.
    ///   - commit: the commit the binary was built from (`lookout_build_info`).
    ///   - systemd: told when Lookout is ready and when it stops, and pinged as its watchdog.
    public init(configuration: ServeConfiguration, shutdownTimeout: Duration = .seconds(10), cancellationLimit: Duration? = .seconds(10),
                logger: Logger = Logger(label: "lookout"),
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, threadPool: NIOThreadPool = .singleton,
                commit: String = "unknown", systemd: SystemdNotifier = SystemdNotifier(environment: [:])) throws {
        self.configuration = configuration
        self.shutdownTimeout = shutdownTimeout
        self.cancellationLimit = cancellationLimit
        self.logger = logger
        // Every file the configuration names is read now, so that a bad one stops the start with its name.
        let files = try ConfigurationFiles(reading: configuration)
        let redisTLS = files.redisTLS
        for url in configuration.redis where url.tls?.verify == false {
            logger.warning("TLS certificate checks are OFF for this Redis (--redis-tls-insecure): anyone on the path can read and forge its traffic",
                           metadata: ["redis": "\(url)"])
        }
        let queue = ObservationQueue()
        let contracts = files.contracts
        for contract in contracts.contracts {
            logger.info("event contract", metadata: [
                "channels": "\(contract.channels)", "format": "\(contract.format.rawValue)", "from": "\(contract.origin)",
                "types": "\(contract.schemas.keys.sorted().joined(separator: ", "))",
            ])
        }
        let events = contracts.isEmpty && !configuration.inferShapes ? nil
            : EventHandOver(contracts: contracts, infersShapes: configuration.inferShapes, queue: queue)
        let metrics = MonitorMetrics(version: LookoutVersion.current, commit: commit, consumerSeries: configuration.consumerSeries)
        self.metrics = metrics

        let store: StoreWriter?
        if let path = configuration.storePath {
            var storeConfiguration = StoreWriter.Configuration()
            storeConfiguration.flushInterval = .milliseconds(Int64(configuration.storeFlushInterval * 1000))
            storeConfiguration.tiers = configuration.storeTiers
            storeConfiguration.eventRetention = configuration.eventRetention
            storeConfiguration.maxSize = configuration.storeMaxSize
            storeConfiguration.threadPool = threadPool
            store = try StoreWriter(path: path, configuration: storeConfiguration, registry: metrics.registry)
        } else {
            store = nil
        }
        self.store = store

        var sources: [any MonitoredSource] = []
        var sourceServices: [any Service] = []
        var relay: RelayServer?
        if configuration.relayEnabled {
            let tap = configuration.observeRelay ? RelayTap(queue: queue, heartbeatChannel: configuration.heartbeatChannel, events: events) : nil
            let server = RelayServer(configuration: configuration.relay, observer: tap, logger: Logger(label: "lookout.relay"))
            relay = server
            sources.append(RelaySource(relay: server))
        }
        self.relay = relay
        let claims = ClusterClaims()
        var streamWatches: [RedisStreamWatch] = []
        for url in configuration.redis {
            var sourceConfiguration = RedisSource.Configuration(url: url, timestampField: configuration.timestampField,
                                                                heartbeatChannel: configuration.heartbeatChannel)
            sourceConfiguration.claims = claims
            sourceConfiguration.events = events
            sourceConfiguration.linkTimeout = .seconds(configuration.redisLinkTimeout)
            if let watch = configuration.redisWatch { sourceConfiguration.watch = watch }
            let source = RedisSource(configuration: sourceConfiguration, queue: queue, registry: metrics.registry)
            sources.append(source)
            sourceServices.append(source)
            if !configuration.streamsMatch.isEmpty {
                var streams = RedisStreamWatch.Configuration(url: url, match: configuration.streamsMatch)
                streams.interval = .milliseconds(Int64(configuration.streamsInterval * 1000))
                streams.maxStreams = configuration.streamsMax
                streams.poisonDeliveries = configuration.streamsPoisonDeliveries
                streams.deadAfter = .milliseconds(Int64(configuration.streamsDeadAfter * 1000))
                let watch = RedisStreamWatch(configuration: streams, registry: metrics.registry, queue: queue, history: store)
                streamWatches.append(watch)
                sourceServices.append(watch)
            }
        }

        // In an HA group the webhooks and the bus notify from the lease holder only; every
        // instance pushes to Alertmanager (which deduplicates) and writes its own log.
        let leadership = configuration.haGroup.flatMap { group in
            configuration.redis.first.map { url in
                NotificationLeadership(configuration: .init(group: group, instance: configuration.haInstance ?? Self.defaultInstanceName,
                                                            lease: configuration.haLease, url: url),
                                       registry: metrics.registry)
            }
        }
        self.leadership = leadership
        let recordDelivery: @Sendable (AlertDelivery) -> Void = { store?.record($0) }
        let webhooks = configuration.alertWebhooks.map {
            HTTPNotifier(url: $0, format: .webhook, registry: metrics.registry, eventLoopGroup: eventLoopGroup, gate: leadership,
                         onDelivery: recordDelivery)
        }
        let httpNotifiers = webhooks + configuration.alertmanagers.map {
            HTTPNotifier(url: $0, format: .alertmanager, registry: metrics.registry, eventLoopGroup: eventLoopGroup, onDelivery: recordDelivery)
        }
        for webhook in webhooks { leadership?.register(notifier: webhook.notifierName) { webhook.send($0) } }
        // The leadership first: it knows each alert's last state before a notifier asks to send it.
        var notifiers: [any AlertNotifier] = (leadership.map { [$0] } ?? []) + httpNotifiers + [LogNotifier()]
        var notifierServices: [any Service] = (leadership.map { [$0] } ?? []) + httpNotifiers
        if let bus = Self.busNotifier(configuration, relay: relay, redisTLS: redisTLS, registry: metrics.registry, gate: leadership,
                                      onDelivery: recordDelivery) {
            leadership?.register(notifier: bus.notifierName) { bus.send($0) }
            notifiers.append(bus)
            notifierServices.append(bus)
        }
        let alerts = AlertRouter(notifiers: notifiers, holdFor: configuration.alertHold, onAlert: { store?.record($0) })
        self.alerts = alerts

        var monitorConfiguration = ChannelMonitor.Configuration()
        monitorConfiguration.grouping = configuration.grouping
        monitorConfiguration.detector = configuration.detector
        monitorConfiguration.ownChannels = configuration.ownChannels
        monitorConfiguration.consumedPatterns = configuration.consumedPatterns
        monitorConfiguration.events = events
        monitorConfiguration.executor = monitorThread
        // The store first: a state change is recorded before the alert it makes.
        monitorConfiguration.sinks = (store.map { [$0] } ?? []) + [alerts]
        let monitor = ChannelMonitor(queue: queue, metrics: metrics, sources: sources, configuration: monitorConfiguration)
        self.monitor = monitor

        if let store {
            // Resume where the last run stopped: consumers in their states, firing alerts still
            // firing, so a restart neither forgets a dead consumer nor alerts on it twice.
            do {
                monitor.resume(try store.savedConsumers())
                alerts.resume(firing: try store.firingAlerts())
                if configuration.inferShapes { monitor.resume(shapes: try store.savedShapes()) }
            } catch {
                logger.error("could not read the saved consumers, alerts and shapes; starting afresh", metadata: ["error": "\(error)"])
            }
        }

        let boundHTTPPort = self.boundHTTPPort
        let httpLogger = Logger(label: "lookout.http")
        let credentials = files.credentials
        if !RelayConfiguration.isLoopback(configuration.metricsHost) && credentials == nil {
            // Read-only, but it names every channel and consumer: say so, once.
            httpLogger.warning("the HTTP server (/metrics, the API, the status page) listens beyond loopback with no authentication (see --metrics-auth)",
                               metadata: ["address": "\(configuration.metricsHost):\(configuration.metricsPort)"])
        }
        var httpDependencies = LookoutHTTPServer.Dependencies(metrics: metrics, monitor: monitor, storePath: configuration.storePath)
        httpDependencies.credentials = credentials
        httpDependencies.contracts = contracts
        if let leadership { httpDependencies.notifications = { leadership.status } }
        if !streamWatches.isEmpty { httpDependencies.streams = { [streamWatches] in streamWatches.flatMap(\.groups) } }
        let http = LookoutHTTPServer.application(
            httpDependencies,
            host: configuration.metricsHost, port: configuration.metricsPort, logger: httpLogger, eventLoopGroup: eventLoopGroup,
            onServerRunning: { channel in
                boundHTTPPort.set(channel.localAddress?.port)
                httpLogger.info("http listening", metadata: [
                    "address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "port": "\(channel.localAddress?.port ?? 0)",
                ])
            })

        var services: [any Service] = []
        if let store { services.append(store) }
        services += notifierServices
        services.append(monitor)
        services += sourceServices
        if let relay {
            services.append(relay)
            // After the relay, so that it stops first: it reads the relay, which must still answer.
            services.append(RelaySeries(relay: relay, registry: metrics.registry))
        }
        services.append(HangupHandler(relay: relay, logger: logger))
        services.append(http)
        if configuration.demo, let relay {
            services.append(DemoTraffic(relay: relay, password: configuration.relay.password, heartbeatChannel: configuration.heartbeatChannel))
        }
        services.append(JudgingStop(monitor: monitor))
        // Last, so that it is the first to stop: systemd hears STOPPING=1 as the shutdown begins.
        let runningRelay = relay
        services.append(SystemdNotification(
            notifier: systemd, monitor: monitor,
            listening: {
                guard boundHTTPPort.value != nil else { return false }
                guard let relay = runningRelay else { return true }
                let plainOpen = relay.configuration.tls?.only == true || relay.boundPort != nil
                return plainOpen && (relay.configuration.tls == nil || relay.boundTLSPort != nil)
            },
            status: {
                let relayPart = runningRelay.map { "relay on \($0.configuration.host):\($0.boundPort ?? $0.boundTLSPort ?? 0)" } ?? "no relay"
                return "\(relayPart), watching \(configuration.redis.count) Redis, metrics on \(configuration.metricsHost):\(boundHTTPPort.value ?? 0)"
            },
            logger: logger))
        self.services = services
    }

    /// Reads every file `configuration` names, as ``init(configuration:shutdownTimeout:cancellationLimit:logger:eventLoopGroup:threadPool:commit:systemd:)``
    /// does, and checks that the database could be written, without opening or starting
    /// anything (`lookout config check`).
    /// - Returns: the event contracts read (an AsyncAPI document gives one per channel).
    /// - Throws: the error `lookout serve` would stop with.
    @discardableResult
    public static func checkFiles(_ configuration: ServeConfiguration) throws -> ContractSet {
        let files = try ConfigurationFiles(reading: configuration)
        if let path = configuration.storePath {
            let existing = FileManager.default.fileExists(atPath: path)
            let directory = (path as NSString).deletingLastPathComponent
            let writable = existing ? FileManager.default.isWritableFile(atPath: path)
                                    : FileManager.default.isWritableFile(atPath: directory.isEmpty ? "." : directory)
            guard writable else {
                throw StoreOpenError(path: path, reason: existing ? "the file is not writable" : "its directory does not exist or is not writable")
            }
        }
        return files.contracts
    }

    /// The bus notifier: through the relay in process, else on the first Redis source.
    private static func busNotifier(_ configuration: ServeConfiguration, relay: RelayServer?, redisTLS: NIOSSLContext?,
                                    registry: PrometheusCollectorRegistry, gate: (any NotificationGate)?,
                                    onDelivery: @escaping @Sendable (AlertDelivery) -> Void) -> BusNotifier? {
        guard let channel = configuration.alertChannel else { return nil }
        if let relay {
            return BusNotifier(channel: channel, registry: registry, publish: { payloads in
                (try? await relay.publish(channel: channel, payloads: payloads)).map { $0.map { _ in true } }
                    ?? Array(repeating: false, count: payloads.count)
            }, onDelivery: onDelivery)
        }
        guard let redis = configuration.redis.first else { return nil }
        let publisher = RESPPublisher(host: redis.host, port: redis.port, user: redis.user, password: redis.password,
                                      tls: redis.tls == nil ? nil : redisTLS)
        return BusNotifier(channel: channel, registry: registry, gate: gate, publish: { payloads in
            var accepted: [Bool] = []
            for payload in payloads { accepted.append((try? await publisher.publish(payload, on: channel)) != nil) }
            return accepted
        }, onDelivery: onDelivery)
    }

    /// An HA instance's default name: the host name and the process id.
    static var defaultInstanceName: String {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "lookout"
        return "\(host)/\(getpid())"
    }

    /// Runs every service until graceful shutdown (or until one of them fails).
    public func run() async throws {
        let logger = self.logger
        var group = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: ServiceWatch(service: $0, slowStop: (cancellationLimit ?? shutdownTimeout) / 2, logger: logger)) }, logger: logger)
        group.maximumGracefulShutdownDuration = gracefulStopCeiling
        group.maximumCancellationDuration = cancellationLimit
        defer { monitorThread.stop() }
        try await ServiceGroup(configuration: group).run()
    }

    /// The longest a graceful stop may take before the services still running are cancelled:
    /// `shutdownTimeout` for each service.
    public var gracefulStopCeiling: Duration { shutdownTimeout * services.count }

    /// The relay's port once it listens (the one the system chose when configured with 0).
    public var relayPort: Int? { relay?.boundPort }

    /// The relay's TLS port once it listens.
    public var relayTLSPort: Int? { relay?.boundTLSPort }

    /// The HTTP server's port once it listens.
    public var httpPort: Int? { boundHTTPPort.value }
}

/// The files a configuration names, read and checked once: the relay's TLS certificate and key,
/// the Redis TLS files, the contracts' schemas and the HTTP credentials.
private struct ConfigurationFiles {
    let redisTLS: NIOSSLContext?
    let contracts: ContractSet
    let credentials: HTTPCredentials?

    init(reading configuration: ServeConfiguration) throws {
        if configuration.relayEnabled, let tls = configuration.relay.tls { _ = try tls.makeContext() }
        redisTLS = try configuration.redis.first(where: { $0.tls != nil })?.tls.map { settings throws in
            try NIOSSLContext(configuration: try TLSTunnel.clientConfiguration(settings))
        }
        contracts = try ContractSet.load(configuration.contracts)
        credentials = try configuration.metricsAuth.map { source throws in try HTTPCredentials.load(source) }
    }
}

/// A port learnt once a server is bound, read from any thread.
private final class BoundPort: Sendable {
    private let port = Mutex<Int?>(nil)

    func set(_ value: Int?) { port.withLock { $0 = value } }
    var value: Int? { port.withLock { $0 } }
}

extension HTTPCredentials {
    /// Reads the credentials file `source` names.
    /// - Throws: ``HTTPCredentialsError`` naming the file and what is wrong with it.
    public static func load(_ source: Source) throws(HTTPCredentialsError) -> HTTPCredentials {
        guard let data = FileManager.default.contents(atPath: source.path), let text = String(data: data, encoding: .utf8) else {
            throw HTTPCredentialsError(description: "cannot read the \(source.kind.rawValue) credentials file '\(source.path)'")
        }
        return try HTTPCredentials(source, text: text)
    }
}

/// Tells the monitor to stop judging consumers and health as soon as a graceful shutdown
/// begins: the relay closing its connections and the sources stopping are not failures, and a
/// slow stop must not leave every consumer `late` in the store.
private struct JudgingStop: Service {
    let monitor: ChannelMonitor

    func run() async throws {
        await waitForGracefulShutdown()
        monitor.stopJudging()
    }
}

/// SIGHUP (`systemctl reload`): reads the relay's TLS certificate files again (after a
/// renewal). Nothing else is reloaded, and a hang-up never stops Lookout.
private struct HangupHandler: Service {
    let relay: RelayServer?
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenStopping {
            for await _ in hangups {
                guard let relay, relay.configuration.tls != nil else {
                    logger.notice("SIGHUP: nothing to reload (only the relay's TLS certificates are read again; other settings need a restart)")
                    continue
                }
                do {
                    try relay.reloadCertificates()
                    logger.notice("SIGHUP: relay TLS certificates read again")
                } catch {
                    logger.error("relay TLS certificates not reloaded; the previous ones stay in use", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// A service that says so, loudly, when it ends before Lookout was asked to stop (the group
/// then stops everything, swift-service-lifecycle's rule, which must never pass unnoticed), and
/// when it is still running `slowStop` after it was cancelled: past the group's
/// `maximumCancellationDuration` the process ends on a fatal error, and this names the service
/// that held it.
private struct ServiceWatch: Service, CustomStringConvertible {
    let service: any Service
    let slowStop: Duration
    let logger: Logger

    /// The watched service's type, as the service group's logs name it.
    var description: String { "\(type(of: service))" }

    func run() async throws {
        let finished = StopFlag()
        defer { finished.set() }
        let name = description
        do {
            try await withTaskCancellationHandler {
                try await service.run()
            } onCancel: { [logger, slowStop] in
                let cancelled = ContinuousClock.now
                Task.detached {
                    try? await Task.sleep(for: slowStop)
                    guard !finished.isSet else { return }
                    logger.error("a service has not stopped since it was cancelled",
                                 metadata: ["service": "\(name)", "seconds": "\((ContinuousClock.now - cancelled).seconds)"])
                }
            }
        } catch {
            if !Task.isShuttingDownGracefully && !Task.isCancelled {
                logger.critical("a service failed; Lookout stops", metadata: ["service": "\(name)", "error": "\(error)"])
            }
            throw error
        }
        if !Task.isShuttingDownGracefully && !Task.isCancelled {
            logger.critical("a service ended before Lookout was asked to stop; Lookout stops", metadata: ["service": "\(name)"])
        }
    }
}

/// Set once a watched service has returned.
private final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
