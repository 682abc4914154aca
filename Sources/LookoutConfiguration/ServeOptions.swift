import ArgumentParser
import Foundation
import Glob
import LookoutCore
import RESP
import Relay

/// `lookout serve`'s flags, as an ArgumentParser group (each flag's help written from the table of
/// settings, ``ServeConfiguration/settings``): every field is optional (nil or empty
/// means "the flag was not given"), so the same settings can come from a file, the flags and the
/// environment, and be resolved by one pure function,
/// ``ServeConfiguration/resolve(file:options:environment:)``. Tests parse the same flags.
public struct ServeOptions: ParsableArguments, Sendable {
    @Option(help: "YAML configuration file; flags override it.")
    public var config: String?

    @Option(name: .customLong("relay"), help: .setting("relay.address"))
    public var relayAddress: String?

    @Flag(name: .customLong("no-relay"), help: "Do not start the embedded relay (sidecar mode, with --redis).")
    public var noRelay = false

    @Option(help: .setting("relay.password"))
    public var relayPassword: String?

    @Flag(name: .customLong("no-protected-mode"),
          help: "Let the relay listen beyond loopback with no password (Redis's protected-mode no); only on a network you trust.")
    public var noProtectedMode = false

    @Option(name: .customLong("relay-tls"), help: .setting("relay.tls.address", "Needs --tls-cert and --tls-key."))
    public var relayTLSAddress: String?

    @Flag(name: .customLong("relay-tls-only"), help: .setting("relay.tls.only"))
    public var relayTLSOnly = false

    @Option(help: .setting("relay.tls.cert"))
    public var tlsCert: String?

    @Option(help: .setting("relay.tls.key"))
    public var tlsKey: String?

    @Option(help: .setting("relay.tls.ca"))
    public var tlsCa: String?

    @Option(help: .setting("relay.tls.auth_clients"))
    public var tlsAuthClients: String?

    @Option(help: .setting("relay.max_clients"))
    public var maxClients: Int?

    @Option(help: .setting("relay.client_output_buffer_limit"))
    public var clientOutputBufferLimit: String?

    @Option(help: .setting("relay.proto_max_bulk_len"))
    public var protoMaxBulkLen: String?

    @Option(help: .setting("relay.tcp_keepalive"))
    public var tcpKeepalive: Int?

    @Option(name: .customLong("redis"), help: .setting("redis.urls"))
    public var redisURLs: [String] = []

    @Option(help: .setting("redis.tls.ca"))
    public var redisTlsCa: String?

    @Option(help: .setting("redis.tls.cert"))
    public var redisTlsCert: String?

    @Option(help: .setting("redis.tls.key"))
    public var redisTlsKey: String?

    @Flag(help: .setting("redis.tls.insecure"))
    public var redisTlsInsecure = false

    @Option(name: .customLong("watch"),
            help: .setting("redis.watch"))
    public var watch: [String] = []

    @Option(help: .setting("redis.link_timeout"))
    public var redisLinkTimeout: String?

    @Option(name: .customLong("metrics"), help: .setting("metrics.address"))
    public var metricsAddress: String?

    @Option(help: .setting("metrics.auth", "/healthz and /readyz stay open."))
    public var metricsAuth: String?

    @Option(help: .setting("metrics.consumer_series"))
    public var consumerSeries: String?

    @Option(help: .setting("channels.max_tracked"))
    public var maxChannels: Int?

    @Option(name: .customLong("channel-group"), help: .setting("channels.groups", "Given as PATTERN or PATTERN=LABEL."))
    public var channelGroups: [String] = []

    @Option(help: .setting("channels.timestamp_field"))
    public var timestampField: String?

    @Flag(name: .customLong("infer-shapes"), help: .setting("channels.infer_shapes"))
    public var inferShapes = false

    @Option(help: .setting("alerts.hold"))
    public var alertHold: String?

    @Option(help: .setting("consumers.heartbeat_channel"))
    public var heartbeatChannel: String?

    @Option(help: .setting("consumers.detector"))
    public var detector: String?

    @Option(help: .setting("consumers.stall_window"))
    public var stallWindow: String?

    @Option(help: .setting("consumers.lag_window"))
    public var lagWindow: String?

    @Option(help: .setting("consumers.reconnect_grace"))
    public var reconnectGrace: String?

    @Option(name: .customLong("consumer-pattern"),
            help: .setting("consumers.patterns"))
    public var consumedPatterns: [String] = []

    @Option(name: .customLong("alert-webhook"), help: .setting("alerts.webhooks"))
    public var alertWebhooks: [String] = []

    @Option(name: .customLong("alertmanager"), help: .setting("alerts.alertmanagers"))
    public var alertmanagers: [String] = []

    @Option(help: .setting("alerts.channel"))
    public var alertChannel: String?

    @Option(help: .setting("ha.group", "Needs --no-relay and --redis."))
    public var haGroup: String?

    @Option(help: .setting("ha.lease"))
    public var haLease: String?

    @Option(help: .setting("ha.instance"))
    public var haInstance: String?

    @Option(name: .customLong("stream"), help: .setting("streams.match", "Repeat for several; needs --redis."))
    public var streams: [String] = []

    @Option(help: .setting("streams.interval"))
    public var streamInterval: String?

    @Option(help: .setting("streams.max"))
    public var streamMax: Int?

    @Option(help: .setting("streams.dead_after"))
    public var streamDeadAfter: String?

    @Option(help: .setting("streams.poison_deliveries"))
    public var streamPoisonDeliveries: Int?

    @Option(help: .setting("log_level"))
    public var logLevel: String?

    @Flag(help: "Run synthetic publishers and consumers on the embedded relay (one consumer dies and returns every 90 s), to see every panel and alert move.")
    public var demo = false

    @Flag(name: .customLong("bench-unobserved"), help: ArgumentHelp("Run the relay with no observer (benchmarks: the cost of watching).", visibility: .hidden))
    public var benchUnobserved = false

    @Option(help: .setting("store.path"))
    public var db: String?

    @Flag(name: .customLong("no-db"), help: "Record no history.")
    public var noDB = false

    @Option(help: .setting("store.flush_interval"))
    public var storeFlushInterval: String?

    @Option(help: .setting("store.raw_retention"))
    public var rawRetention: String?

    @Option(help: .setting("store.rollup_retention"))
    public var rollupRetention: String?

    @Option(name: .customLong("db-max-size"), help: .setting("store.max_size"))
    public var dbMaxSize: String?

    public init() {}

    /// Reads the configuration file named by `--config`, then resolves it with these flags and
    /// `environment`.
    /// - Throws: ``ConfigurationError`` naming the file, key or flag.
    public func resolve(environment: [String: String]) throws(ConfigurationError) -> ServeConfiguration {
        var file: (path: String, text: String)?
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ConfigurationError(key: "--config", reason: "cannot read '\(config)'")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError(key: "--config", reason: "'\(config)' is not UTF-8 text")
            }
            file = (config, text)
        }
        return try ServeConfiguration.resolve(file: file, options: self, environment: environment)
    }
}

extension ServeConfiguration {
    /// Environment variables read as fallbacks for secrets kept out of files and flags.
    public enum EnvironmentKey {
        /// The relay's password (requirepass) when neither the file nor `--relay-password` sets one.
        public static let relayPassword = "LOOKOUT_RELAY_PASSWORD"
        /// The password of every Redis URL that carries none.
        public static let redisPassword = "LOOKOUT_REDIS_PASSWORD"
    }

    /// The settings `lookout serve` runs with: the configuration file's text (if any), then the
    /// flags on top, then the environment's password fallbacks; the rules that span several
    /// settings are checked last. Pure: reading the file and the environment is the caller's job.
    ///
    /// - Parameters:
    ///   - file: the YAML document and its path (the path only names it in errors).
    ///   - options: the flags given.
    ///   - environment: the process environment (only ``EnvironmentKey`` is read).
    /// - Throws: ``ConfigurationError`` whose key is the file's key path (prefixed with the
    ///   file's path) or the flag (`--max-clients`).
    public static func resolve(
        file: (path: String, text: String)? = nil,
        options flags: ServeOptions = .init(),
        environment: [String: String] = [:]
    ) throws(ConfigurationError) -> ServeConfiguration {
        var settings = ServeConfiguration()
        if let file {
            do {
                settings = try parse(yaml: file.text)
            } catch {
                throw ConfigurationError(key: "\(file.path): \(error.key)", reason: error.reason)
            }
            // Schema files and AsyncAPI documents are named relative to the configuration file.
            let directory = (file.path as NSString).deletingLastPathComponent
            func resolved(_ path: String) -> String { path.hasPrefix("/") || directory.isEmpty ? path : directory + "/" + path }
            settings.contracts = settings.contracts.map { source in
                switch source {
                case .schemas(var setting):
                    setting.schemaFiles = setting.schemaFiles.mapValues(resolved)
                    return .schemas(setting)
                case .asyncAPI(let path): return .asyncAPI(resolved(path))
                }
            }
        }
        func apply(_ flag: String, _ body: () throws(ConfigurationError) -> Void) throws(ConfigurationError) {
            do { try body() } catch { throw ConfigurationError(key: "--\(flag)", reason: error.reason) }
        }
        func duration(_ flag: String, _ text: String?, example: String) throws(ConfigurationError) -> Double? {
            guard let text else { return nil }
            guard let seconds = DurationText.seconds(text) else {
                throw ConfigurationError(key: "--\(flag)", reason: "'\(text)' is not a duration such as \(example)")
            }
            return seconds
        }

        try apply("relay") { () throws(ConfigurationError) in
            if let v = flags.relayAddress { (settings.relay.host, settings.relay.port) = try hostPort(v) }
        }
        if flags.noRelay { settings.relayEnabled = false }
        if let password = flags.relayPassword { settings.relay.password = password }
        if flags.noProtectedMode { settings.relay.protectedMode = false }
        try settings.applyRelayTLS(flags)
        try apply("max-clients") { () throws(ConfigurationError) in
            if let v = flags.maxClients { settings.relay.maxClients = try positive(v) }
        }
        try apply("client-output-buffer-limit") { () throws(ConfigurationError) in
            if let v = flags.clientOutputBufferLimit { settings.relay.outputBufferLimits = try outputBufferLimits(v) }
        }
        try apply("proto-max-bulk-len") { () throws(ConfigurationError) in
            if let v = flags.protoMaxBulkLen { settings.relay.requestLimits.maxBulkLength = try size(v) }
        }
        if let keepalive = flags.tcpKeepalive {
            guard keepalive >= 0 else { throw ConfigurationError(key: "--tcp-keepalive", reason: "must be 0 or more") }
            settings.relay.tcpKeepalive = keepalive
        }
        try apply("redis") { () throws(ConfigurationError) in
            for url in flags.redisURLs { settings.redis.append(try redisURL(url)) }
        }
        if !flags.watch.isEmpty {
            settings.redisWatch = try flags.watch.map { (glob) throws(ConfigurationError) in
                if let problem = GlobPattern.problem(in: glob) { throw ConfigurationError(key: "--watch", reason: problem) }
                return glob
            }
        }
        try apply("metrics") { () throws(ConfigurationError) in
            if let v = flags.metricsAddress { (settings.metricsHost, settings.metricsPort) = try hostPort(v) }
        }
        if let auth = flags.metricsAuth {
            guard let source = HTTPCredentials.Source(auth) else {
                throw ConfigurationError(key: "--metrics-auth", reason: "'\(auth)' is not basic:FILE or bearer:FILE")
            }
            settings.metricsAuth = source
        }
        if let text = flags.consumerSeries {
            guard let selection = ConsumerSeriesSelection(rawValue: text) else {
                throw ConfigurationError(key: "--consumer-series", reason: "'\(text)' is not one of auto, all, unhealthy, none")
            }
            settings.consumerSeries = selection
        }
        try apply("max-channels") { () throws(ConfigurationError) in
            if let v = flags.maxChannels { settings.grouping.maxTrackedChannels = try positive(v) }
        }
        for group in flags.channelGroups {
            let parts = group.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !parts[0].isEmpty else { throw ConfigurationError(key: "--channel-group", reason: "'\(group)' has no pattern") }
            settings.grouping.rules.append(.init(pattern: parts[0], label: parts.count > 1 ? parts[1] : nil))
        }
        if let field = flags.timestampField { settings.timestampField = field }
        if flags.inferShapes { settings.inferShapes = true }
        try apply("alert-webhook") { () throws(ConfigurationError) in
            for url in flags.alertWebhooks { settings.alertWebhooks.append(try webhookURL(url)) }
        }
        try apply("alertmanager") { () throws(ConfigurationError) in
            for url in flags.alertmanagers { settings.alertmanagers.append(try webhookURL(url)) }
        }
        if let channel = flags.alertChannel { settings.alertChannel = channel.isEmpty ? nil : channel }
        if let channel = flags.heartbeatChannel { settings.heartbeatChannel = channel }
        if let group = flags.haGroup { settings.haGroup = try Self.haGroup(group, key: "--ha-group") }
        if let lease = try duration("ha-lease", flags.haLease, example: "10s") { settings.haLease = try Self.haLease(lease, key: "--ha-lease") }
        if let instance = flags.haInstance {
            guard !instance.isEmpty else { throw ConfigurationError(key: "--ha-instance", reason: "must not be empty") }
            settings.haInstance = instance
        }
        if let hold = try duration("alert-hold", flags.alertHold, example: "30s") { settings.alertHold = hold }
        if !flags.streams.isEmpty {
            settings.streamsMatch = try flags.streams.map { (glob) throws(ConfigurationError) in
                if let problem = GlobPattern.problem(in: glob) { throw ConfigurationError(key: "--stream", reason: problem) }
                return glob
            }
        }
        if let interval = try duration("stream-interval", flags.streamInterval, example: "5s") {
            guard interval >= 0.1 else { throw ConfigurationError(key: "--stream-interval", reason: "must be 100ms or more") }
            settings.streamsInterval = interval
        }
        if let dead = try duration("stream-dead-after", flags.streamDeadAfter, example: "5m") { settings.streamsDeadAfter = dead }
        try apply("stream-max") { () throws(ConfigurationError) in
            if let v = flags.streamMax { settings.streamsMax = try positive(v) }
        }
        try apply("stream-poison-deliveries") { () throws(ConfigurationError) in
            if let v = flags.streamPoisonDeliveries { settings.streamsPoisonDeliveries = try positive(v) }
        }
        try apply("redis-link-timeout") { () throws(ConfigurationError) in
            if let v = flags.redisLinkTimeout { settings.redisLinkTimeout = try linkTimeout(v) }
        }
        if let window = try duration("stall-window", flags.stallWindow, example: "60s") { settings.detector.stallWindow = window }
        if let window = try duration("lag-window", flags.lagWindow, example: "2m") { settings.detector.lagWindow = window }
        if let grace = try duration("reconnect-grace", flags.reconnectGrace, example: "5s") { settings.detector.reconnectGrace = grace }
        for pattern in flags.consumedPatterns {
            guard !pattern.isEmpty else { throw ConfigurationError(key: "--consumer-pattern", reason: "must not be empty") }
            settings.consumedPatterns.append(pattern)
        }
        if let path = flags.db { settings.storePath = path }
        if flags.noDB { settings.storePath = nil }
        if let flush = try duration("store-flush-interval", flags.storeFlushInterval, example: "1s") { settings.storeFlushInterval = flush }
        try settings.setRetentions(raw: try duration("raw-retention", flags.rawRetention, example: "1h"),
                                   rollup: try duration("rollup-retention", flags.rollupRetention, example: "30d"),
                                   keys: ("--raw-retention", "--rollup-retention"))
        try apply("db-max-size") { () throws(ConfigurationError) in
            if let v = flags.dbMaxSize { settings.storeMaxSize = try storeMaxSize(try size(v), key: "--db-max-size") }
        }
        try apply("detector") { () throws(ConfigurationError) in
            if let detector = flags.detector { try settings.setDetector(detector, key: "detector") }
        }
        if let level = flags.logLevel {
            guard logLevels.contains(level) else {
                throw ConfigurationError(key: "--log-level", reason: "'\(level)' is not one of \(logLevels.joined(separator: ", "))")
            }
            settings.logLevel = level
        }
        if flags.demo { settings.demo = true }
        if flags.benchUnobserved { settings.observeRelay = false }

        if !settings.relay.users.isEmpty && flags.relayPassword != nil {
            throw ConfigurationError(key: "--relay-password",
                                     reason: "not used with relay.users (the default user is off unless listed): list a user named default instead")
        }
        if settings.relay.password == nil && settings.relay.users.isEmpty {
            settings.relay.password = environment[EnvironmentKey.relayPassword]
        }
        try settings.applyRedisTLS(flags)
        if let password = environment[EnvironmentKey.redisPassword] {
            for index in settings.redis.indices where settings.redis[index].password == nil {
                settings.redis[index].password = password
            }
        }

        if settings.demo && !settings.relayEnabled {
            throw ConfigurationError(key: "--demo", reason: "needs the embedded relay (drop --no-relay)")
        }
        if !settings.relayEnabled && settings.redis.isEmpty {
            throw ConfigurationError(key: "--no-relay", reason: "nothing to watch; give at least one --redis URL")
        }
        if settings.haGroup != nil && (settings.relayEnabled || settings.redis.isEmpty) {
            throw ConfigurationError(key: "--ha-group", reason: "a pair watches one Redis and keeps its lease there: run it with --no-relay and --redis")
        }
        if settings.haGroup == nil && settings.haInstance != nil {
            throw ConfigurationError(key: "--ha-instance", reason: "names this instance in an HA group: give --ha-group too")
        }
        if !settings.streamsMatch.isEmpty && settings.redis.isEmpty {
            throw ConfigurationError(key: "--stream", reason: "streams are read from Redis: give a --redis URL (the relay has no streams)")
        }
        if settings.redisWatch != nil && settings.redis.isEmpty {
            throw ConfigurationError(key: "--watch", reason: "watches Redis sources; give a --redis URL (the relay sees every channel)")
        }
        if settings.relayEnabled, let exposure = settings.relay.unprotectedExposure {
            throw ConfigurationError(key: "protected mode", reason: exposure)
        }
        return settings
    }

    /// `--relay-tls` and the `--tls-*` flags on top of `relay.tls`.
    private mutating func applyRelayTLS(_ flags: ServeOptions) throws(ConfigurationError) {
        let given = flags.relayTLSAddress != nil || flags.relayTLSOnly || flags.tlsCert != nil || flags.tlsKey != nil
            || flags.tlsCa != nil || flags.tlsAuthClients != nil
        if given {
            guard let certificate = flags.tlsCert ?? relay.tls?.certificatePath, let key = flags.tlsKey ?? relay.tls?.keyPath else {
                throw ConfigurationError(key: "--relay-tls", reason: "needs a certificate and its key: --tls-cert and --tls-key (or relay.tls.cert and relay.tls.key)")
            }
            var tls = relay.tls ?? RelayTLS(certificatePath: certificate, keyPath: key)
            if relay.tls == nil && flags.relayTLSAddress == nil {
                throw ConfigurationError(key: "--relay-tls", reason: "the TLS listener needs an address: --relay-tls HOST:PORT (or relay.tls.address)")
            }
            tls.certificatePath = certificate
            tls.keyPath = key
            if let address = flags.relayTLSAddress {
                do { (tls.host, tls.port) = try Self.hostPort(address) } catch { throw ConfigurationError(key: "--relay-tls", reason: error.reason) }
            }
            if let ca = flags.tlsCa { tls.caPath = ca }
            if let mode = flags.tlsAuthClients {
                guard let parsed = RelayTLS.ClientAuthentication(rawValue: mode) else {
                    throw ConfigurationError(key: "--tls-auth-clients", reason: "'\(mode)' is not one of yes, no, optional")
                }
                tls.clientAuthentication = parsed
            }
            if flags.relayTLSOnly { tls.only = true }
            relay.tls = tls
        }
        if let problem = relay.tls?.inconsistency { throw ConfigurationError(key: "--tls-auth-clients", reason: problem) }
    }

    /// `--redis-tls-*` on top of `redis.tls`, then those settings on every `rediss://` URL.
    private mutating func applyRedisTLS(_ flags: ServeOptions) throws(ConfigurationError) {
        if let ca = flags.redisTlsCa { redisTLS.caPath = ca }
        if let certificate = flags.redisTlsCert { redisTLS.certificatePath = certificate }
        if let key = flags.redisTlsKey { redisTLS.keyPath = key }
        if flags.redisTlsInsecure { redisTLS.verify = false }
        if (redisTLS.certificatePath == nil) != (redisTLS.keyPath == nil) {
            throw ConfigurationError(key: "--redis-tls-cert", reason: "a client certificate needs its key, and a key its certificate (--redis-tls-cert with --redis-tls-key)")
        }
        if redisTLS != RedisTLSSettings() && !redis.contains(where: { $0.tls != nil }) {
            throw ConfigurationError(key: "--redis-tls-ca", reason: "TLS settings are given but no Redis URL uses TLS: write rediss:// for those that do")
        }
        for index in redis.indices where redis[index].tls != nil { redis[index].tls = redisTLS }
    }
}

extension ArgumentHelp {
    /// A flag's help from the table of settings: what the setting does, `extra` (what only the
    /// flag has to say), its key in the file, its default and its environment variable.
    static func setting(_ key: String, _ extra: String? = nil) -> ArgumentHelp {
        guard let setting = ServeConfiguration.settings.first(where: { $0.key == key }) else {
            preconditionFailure("no setting \(key) in ServeConfiguration.settings")
        }
        var notes = ["\(key) in the file"]
        let value = setting.value(ServeConfiguration())
        if setting.isList { notes[0] = "repeatable; " + notes[0] }
        if let value, let shown = ConfigurationDocument.plainText(value) { notes.append("default \(shown)") }
        if let environment = setting.environment { notes.append("also \(environment)") }
        return ArgumentHelp(setting.summary + (extra.map { " " + $0 } ?? "") + " (" + notes.joined(separator: "; ") + ")")
    }
}
