import LookoutCore
import RESP
import Relay

/// What `lookout serve`'s flags say, before they are applied: every field is optional (nil or
/// empty means "the flag was not given"), so the same settings can come from a file, the flags
/// and the environment, and be resolved by one pure function (``ServeConfiguration/resolve(file:overrides:environment:)``).
public struct ServeOverrides: Sendable, Hashable {
    public var relayAddress: String?
    public var noRelay = false
    public var relayPassword: String?
    public var maxClients: Int?
    public var clientOutputBufferLimit: String?
    public var protoMaxBulkLen: String?
    public var redisURLs: [String] = []
    public var metricsAddress: String?
    public var maxChannels: Int?
    public var channelGroups: [String] = []
    public var timestampField: String?
    public var alertHold: String?
    public var heartbeatChannel: String?
    public var detector: String?
    public var stallWindow: String?
    public var alertWebhooks: [String] = []
    public var alertmanagers: [String] = []
    public var alertChannel: String?
    public var logLevel: String?
    public var demo = false
    public var observeRelay = true
    public var db: String?
    public var noDB = false
    public var storeFlushInterval: String?
    public var rawRetention: String?
    public var rollupRetention: String?

    public init() {}
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
    ///   - overrides: the flags given.
    ///   - environment: the process environment (only ``EnvironmentKey`` is read).
    /// - Throws: ``ConfigurationError`` whose key is the file's key path (prefixed with the
    ///   file's path) or the flag (`--max-clients`).
    public static func resolve(
        file: (path: String, text: String)? = nil,
        overrides flags: ServeOverrides = .init(),
        environment: [String: String] = [:]
    ) throws(ConfigurationError) -> ServeConfiguration {
        var settings = ServeConfiguration()
        if let file {
            do {
                settings = try parse(yaml: file.text)
            } catch {
                throw ConfigurationError(key: "\(file.path): \(error.key)", reason: error.reason)
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
        try apply("max-clients") { () throws(ConfigurationError) in
            if let v = flags.maxClients { settings.relay.maxClients = try positive(v) }
        }
        try apply("client-output-buffer-limit") { () throws(ConfigurationError) in
            if let v = flags.clientOutputBufferLimit { settings.relay.outputBufferLimits = try outputBufferLimits(v) }
        }
        try apply("proto-max-bulk-len") { () throws(ConfigurationError) in
            if let v = flags.protoMaxBulkLen { settings.relay.requestLimits.maxBulkLength = try size(v) }
        }
        try apply("redis") { () throws(ConfigurationError) in
            for url in flags.redisURLs { settings.redis.append(try redisURL(url)) }
        }
        try apply("metrics") { () throws(ConfigurationError) in
            if let v = flags.metricsAddress { (settings.metricsHost, settings.metricsPort) = try hostPort(v) }
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
        try apply("alert-webhook") { () throws(ConfigurationError) in
            for url in flags.alertWebhooks { settings.alertWebhooks.append(try webhookURL(url)) }
        }
        try apply("alertmanager") { () throws(ConfigurationError) in
            for url in flags.alertmanagers { settings.alertmanagers.append(try webhookURL(url)) }
        }
        if let channel = flags.alertChannel { settings.alertChannel = channel.isEmpty ? nil : channel }
        if let channel = flags.heartbeatChannel { settings.heartbeatChannel = channel }
        if let hold = try duration("alert-hold", flags.alertHold, example: "30s") { settings.alertHold = hold }
        if let window = try duration("stall-window", flags.stallWindow, example: "60s") { settings.detector.stallWindow = window }
        if let path = flags.db { settings.storePath = path }
        if flags.noDB { settings.storePath = nil }
        if let flush = try duration("store-flush-interval", flags.storeFlushInterval, example: "1s") { settings.storeFlushInterval = flush }
        if let raw = try duration("raw-retention", flags.rawRetention, example: "24h") { settings.rawRetention = raw }
        if let rollup = try duration("rollup-retention", flags.rollupRetention, example: "30d") { settings.rollupRetention = rollup }
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
        if !flags.observeRelay { settings.observeRelay = false }

        if settings.relay.password == nil { settings.relay.password = environment[EnvironmentKey.relayPassword] }
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
        return settings
    }
}
