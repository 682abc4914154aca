import Alerting
import ArgumentParser
import Foundation
import HTTPServer
import Logging
import LookoutConfiguration
import LookoutHeartbeat
import Monitor
import PubSubCore
import RESP
import Relay
import ServiceLifecycle
import Store
import UnixSignals

/// `lookout serve`: the relay, the monitor and the HTTP server, until SIGINT or SIGTERM.
///
/// Settings come from `--config FILE` (YAML, see ``ServeConfiguration``); a flag given on the
/// command line wins over the file.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Lookout: the embedded pub/sub relay, the channel monitor and the metrics server."
    )

    @Option(help: "YAML configuration file; flags override it.")
    var config: String?

    @Option(name: .customLong("relay"), help: "Address the embedded relay listens on (host:port; default 127.0.0.1:6380).")
    var relayAddress: String?

    @Flag(name: .customLong("no-relay"), help: "Do not start the embedded relay (sidecar mode, with --redis).")
    var noRelay = false

    @Option(help: "Password clients must send with AUTH (requirepass). Also read from LOOKOUT_RELAY_PASSWORD.")
    var relayPassword: String?

    @Option(help: "Most clients connected to the relay at once (default 10000).")
    var maxClients: Int?

    @Option(help: "Output buffer limit for subscribers: 'hard soft seconds', as Redis's client-output-buffer-limit pubsub (default 32mb 8mb 60).")
    var clientOutputBufferLimit: String?

    @Option(help: "Largest bulk string a client may send (proto-max-bulk-len, default 512mb).")
    var protoMaxBulkLen: String?

    @Option(name: .customLong("redis"), help: "Watch a Redis: redis://[user:password@]host:port. Repeatable. The password may also come from LOOKOUT_REDIS_PASSWORD.")
    var redisURLs: [String] = []

    @Option(name: .customLong("metrics"), help: "Address of the HTTP server: /metrics, /healthz, /readyz, /api/v1 (default 127.0.0.1:9480).")
    var metricsAddress: String?

    @Option(help: "Most distinct channels tracked as their own series; the rest count under channel=\"__other__\" (default 1000).")
    var maxChannels: Int?

    @Option(name: .customLong("channel-group"), help: "Count channels matching a glob under one label: PATTERN or PATTERN=LABEL. Repeatable.")
    var channelGroups: [String] = []

    @Option(help: "JSON field with the publish time (ms since the epoch or RFC 3339), for latency on Redis sources.")
    var timestampField: String?

    @Option(help: "How long a channel without consumers or a lost source must last before it alerts (default 30s).")
    var alertHold: String?

    @Option(help: "Channel consumers publish heartbeats on (default lookout:heartbeat).")
    var heartbeatChannel: String?

    @Option(help: "Consumer failure detector: fixed (late 1.5 ×, down 3 × interval) or phi (phi-accrual, threshold 8).")
    var detector: String?

    @Option(name: .customLong("alert-webhook"), help: "Send consumer alerts to this URL in Alertmanager's webhook format. Repeatable.")
    var alertWebhooks: [String] = []

    @Option(name: .customLong("alertmanager"), help: "Send consumer alerts to this Alertmanager (base URL, API v2). Repeatable.")
    var alertmanagers: [String] = []

    @Option(help: "Bus channel consumer alerts are published on (default lookout:alerts; \"\" turns it off).")
    var alertChannel: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info).")
    var logLevel: String?

    @Flag(help: "Run synthetic publishers and consumers on the embedded relay (one consumer dies and returns every 90 s), to see every panel and alert move.")
    var demo = false

    @Flag(name: .customLong("bench-unobserved"), help: ArgumentHelp("Run the relay with no observer (benchmarks: the cost of watching).", visibility: .hidden))
    var benchUnobserved = false

    @Option(help: "SQLite database the history is recorded in (default lookout.db).")
    var db: String?

    @Flag(name: .customLong("no-db"), help: "Record no history.")
    var noDB = false

    @Option(help: "How often the store writes, one transaction each time (default 1s).")
    var storeFlushInterval: String?

    @Option(help: "How long raw per-second samples are kept (default 24h).")
    var rawRetention: String?

    @Option(help: "How long one-minute roll-ups, state changes, alerts and gaps are kept (default 30d).")
    var rollupRetention: String?

    func validate() throws {
        _ = try resolve()
    }

    /// The configuration file, then the flags on top; every problem names the key or flag.
    func resolve() throws -> ServeConfiguration {
        var settings = ServeConfiguration()
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw ValidationError("--config: cannot read '\(config)'")
            }
            do {
                settings = try ServeConfiguration.parse(yaml: text)
            } catch {
                throw ValidationError("\(config): \(error)")
            }
        }
        func apply(_ flag: String, _ body: () throws -> Void) throws {
            do { try body() } catch let error as ConfigurationError { throw ValidationError("--\(flag): \(error.reason)") }
        }
        try apply("relay") { if let v = relayAddress { (settings.relay.host, settings.relay.port) = try ServeConfiguration.hostPort(v) } }
        if noRelay { settings.relayEnabled = false }
        if let relayPassword { settings.relay.password = relayPassword }
        if settings.relay.password == nil { settings.relay.password = Environment.value("LOOKOUT_RELAY_PASSWORD") }
        try apply("max-clients") { if let v = maxClients { settings.relay.maxClients = try ServeConfiguration.positive(v) } }
        try apply("client-output-buffer-limit") {
            if let v = clientOutputBufferLimit { settings.relay.outputBufferLimits = try ServeConfiguration.outputBufferLimits(v) }
        }
        try apply("proto-max-bulk-len") { if let v = protoMaxBulkLen { settings.relay.requestLimits.maxBulkLength = try ServeConfiguration.size(v) } }
        try apply("redis") {
            for url in redisURLs { settings.redis.append(try ServeConfiguration.redisURL(url)) }
        }
        try apply("metrics") { if let v = metricsAddress { (settings.metricsHost, settings.metricsPort) = try ServeConfiguration.hostPort(v) } }
        try apply("max-channels") { if let v = maxChannels { settings.grouping.maxTrackedChannels = try ServeConfiguration.positive(v) } }
        for group in channelGroups {
            let parts = group.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !parts[0].isEmpty else { throw ValidationError("--channel-group: '\(group)' has no pattern") }
            settings.grouping.rules.append(.init(pattern: parts[0], label: parts.count > 1 ? parts[1] : nil))
        }
        if let timestampField { settings.timestampField = timestampField }
        try apply("alert-webhook") {
            for url in alertWebhooks { settings.alertWebhooks.append(try ServeConfiguration.webhookURL(url)) }
        }
        try apply("alertmanager") {
            for url in alertmanagers { settings.alertmanagers.append(try ServeConfiguration.webhookURL(url)) }
        }
        if let alertChannel { settings.alertChannel = alertChannel.isEmpty ? nil : alertChannel }
        if let heartbeatChannel { settings.heartbeatChannel = heartbeatChannel }
        if let alertHold {
            guard let hold = DurationText.seconds(alertHold) else { throw ValidationError("--alert-hold: '\(alertHold)' is not a duration such as 30s") }
            settings.alertHold = hold
        }
        if let db { settings.storePath = db }
        if noDB { settings.storePath = nil }
        for (flag, text, setting) in [("store-flush-interval", storeFlushInterval, \ServeConfiguration.storeFlushInterval),
                                      ("raw-retention", rawRetention, \.rawRetention), ("rollup-retention", rollupRetention, \.rollupRetention)] {
            guard let text else { continue }
            guard let seconds = DurationText.seconds(text) else { throw ValidationError("--\(flag): '\(text)' is not a duration such as 24h") }
            settings[keyPath: setting] = seconds
        }
        try apply("detector") { if let detector { try settings.setDetector(detector, key: "detector") } }
        if let logLevel {
            guard ServeConfiguration.logLevels.contains(logLevel) else {
                throw ValidationError("--log-level: '\(logLevel)' is not one of \(ServeConfiguration.logLevels.joined(separator: ", "))")
            }
            settings.logLevel = logLevel
        }
        if demo && !settings.relayEnabled {
            throw ValidationError("--demo: needs the embedded relay (drop --no-relay)")
        }
        if !settings.relayEnabled && settings.redis.isEmpty {
            throw ValidationError("--no-relay: nothing to watch; give at least one --redis URL")
        }
        return settings
    }

    func run() async throws {
        let settings = try resolve()
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "lookout")
        let queue = ObservationQueue()
        let metrics = MonitorMetrics(version: LookoutVersion.current)
        let store: StoreWriter?
        if let path = settings.storePath {
            var storeConfiguration = StoreWriter.Configuration()
            storeConfiguration.flushInterval = .milliseconds(Int64(settings.storeFlushInterval * 1000))
            storeConfiguration.rawRetention = settings.rawRetention
            storeConfiguration.rollupRetention = settings.rollupRetention
            do {
                store = try StoreWriter(path: path, configuration: storeConfiguration, registry: metrics.registry)
            } catch {
                throw CommandFailure("\(error)", status: Lookout.invalidConfigurationStatus)
            }
        } else {
            store = nil
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var sources: [any MonitoredSource] = []
        var relay: RelayServer?
        if settings.relayEnabled {
            let tap = benchUnobserved ? nil : RelayTap(queue: queue, heartbeatChannel: settings.heartbeatChannel)
            let server = RelayServer(configuration: settings.relay, observer: tap, logger: Logger(label: "lookout.relay"))
            relay = server
            sources.append(RelaySource(relay: server))
            services.append(.init(service: server))
        }
        let redisURLs = settings.redis.map { url in
            var url = url
            if url.password == nil { url.password = Environment.value("LOOKOUT_REDIS_PASSWORD") }
            return url
        }
        for url in redisURLs {
            var sourceConfiguration = RedisSource.Configuration(url: url, timestampField: settings.timestampField,
                                                                heartbeatChannel: settings.heartbeatChannel)
            sourceConfiguration.onGap = { source, start, end in store?.recordGap(source: source, start: start, end: end) }
            let source = RedisSource(configuration: sourceConfiguration, queue: queue, metrics: metrics)
            sources.append(source)
            services.append(.init(service: source))
        }
        let recordDelivery: @Sendable (AlertDelivery) -> Void = { store?.record($0) }
        let httpNotifiers = settings.alertWebhooks.map {
            HTTPNotifier(url: $0, format: .webhook, registry: metrics.registry, onDelivery: recordDelivery)
        } + settings.alertmanagers.map {
            HTTPNotifier(url: $0, format: .alertmanager, registry: metrics.registry, onDelivery: recordDelivery)
        }
        services += httpNotifiers.map { .init(service: $0) }
        var notifiers: [any AlertNotifier] = httpNotifiers + [LogNotifier()]
        if let channel = settings.alertChannel {
            if let relay {
                notifiers.append(BusNotifier(channel: channel, publish: { payload in
                    (try? await relay.publish(channel: channel, payload: payload)) != nil
                }, onDelivery: recordDelivery))
            } else if let redis = redisURLs.first {
                let publisher = RESPPublisher(host: redis.host, port: redis.port, password: redis.password)
                notifiers.append(BusNotifier(channel: channel, publish: { payload in
                    (try? await publisher.publish(payload, on: channel)) != nil
                }, onDelivery: recordDelivery))
            }
        }
        let rules = AlertRouter(notifiers: notifiers, holdFor: settings.alertHold, onAlert: { store?.record($0) })
        var monitorConfiguration = ChannelMonitor.Configuration()
        monitorConfiguration.grouping = settings.grouping
        monitorConfiguration.detector = settings.detector
        monitorConfiguration.ownChannels = Set([settings.heartbeatChannel, "lookout:probe"] + (settings.alertChannel.map { [$0] } ?? []))
        monitorConfiguration.onTransition = { change in
            store?.record(change)
            rules.handle(change)
        }
        monitorConfiguration.onRefresh = { buckets, consumers in store?.record(buckets: buckets, consumers: consumers) }
        monitorConfiguration.onGroupTransition = { rules.handle($0) }
        monitorConfiguration.onHealth = { rules.handle($0) }
        let monitor = ChannelMonitor(queue: queue, metrics: metrics, sources: sources, configuration: monitorConfiguration)
        if let store {
            // Resume where the last run stopped: consumers in their states, firing alerts still
            // firing, so a restart neither forgets a dead consumer nor alerts on it twice.
            do {
                monitor.resume(try store.savedConsumers())
                rules.resume(firing: try store.firingAlerts())
            } catch {
                logger.error("could not read the saved consumers and alerts; starting afresh", metadata: ["error": "\(error)"])
            }
            services.append(.init(service: store))
        }
        if demo {
            services.append(.init(service: DemoTraffic(host: settings.relay.host, port: settings.relay.port, password: settings.relay.password,
                                                       heartbeatChannel: settings.heartbeatChannel)))
        }
        let http = LookoutHTTPServer.application(
            .init(metrics: metrics, monitor: monitor),
            host: settings.metricsHost, port: settings.metricsPort, logger: Logger(label: "lookout.http"))
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: monitor)] + services + [.init(service: http)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            logger.error("lookout serve failed", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}

enum Environment {
    static func value(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name]
    }
}
