import ArgumentParser
import Foundation
import Logging
import LookoutApplication
import LookoutConfiguration
import ServiceLifecycle
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

    @Option(help: "How long a consumer's processed count may stand still while its channels carry traffic before it is stalled (default 60s).")
    var stallWindow: String?

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

    /// The flags as overrides of the configuration file.
    var overrides: ServeOverrides {
        var flags = ServeOverrides()
        flags.relayAddress = relayAddress
        flags.noRelay = noRelay
        flags.relayPassword = relayPassword
        flags.maxClients = maxClients
        flags.clientOutputBufferLimit = clientOutputBufferLimit
        flags.protoMaxBulkLen = protoMaxBulkLen
        flags.redisURLs = redisURLs
        flags.metricsAddress = metricsAddress
        flags.maxChannels = maxChannels
        flags.channelGroups = channelGroups
        flags.timestampField = timestampField
        flags.alertHold = alertHold
        flags.heartbeatChannel = heartbeatChannel
        flags.detector = detector
        flags.stallWindow = stallWindow
        flags.alertWebhooks = alertWebhooks
        flags.alertmanagers = alertmanagers
        flags.alertChannel = alertChannel
        flags.logLevel = logLevel
        flags.demo = demo
        flags.observeRelay = !benchUnobserved
        flags.db = db
        flags.noDB = noDB
        flags.storeFlushInterval = storeFlushInterval
        flags.rawRetention = rawRetention
        flags.rollupRetention = rollupRetention
        return flags
    }

    /// The configuration file, then the flags on top, then the environment; every problem names
    /// the key or flag.
    func resolve() throws -> ServeConfiguration {
        var file: (path: String, text: String)?
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw ValidationError("--config: cannot read '\(config)'")
            }
            file = (config, text)
        }
        do {
            return try ServeConfiguration.resolve(file: file, overrides: overrides, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.description)
        }
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
        let application: LookoutApplication
        do {
            application = try LookoutApplication(configuration: settings, logger: logger)
        } catch {
            throw CommandFailure("\(error)", status: Lookout.invalidConfigurationStatus)
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: application)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.error("lookout serve failed", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}
