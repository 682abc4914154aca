import Glob
import LookoutCore
import PubSubCore
import RESP
import Relay
import Yams

/// Everything `lookout serve` runs with: from the YAML config file, then command-line flags on
/// top. Each setting has one name in both (`relay.max_clients` ↔ `--max-clients`); the keys, their
/// meaning and their defaults are declared once, in ``settings`` (`lookout config example`
/// writes them all as a commented file).
public struct ServeConfiguration: Sendable {
    public var relayEnabled = true
    public var relay = RelayConfiguration()
    public var redis: [RedisURL] = []
    /// Seconds a Redis link may stay silent (no reply, no message, no pong) before it counts as
    /// lost; the bound on noticing a partition or a frozen server.
    public var redisLinkTimeout: Double = 5
    /// How every `rediss://` URL is reached (CA, client certificate, verification).
    public var redisTLS = RedisTLSSettings()
    /// The globs watched on Redis sources (`redis.watch`, `--watch`); nil: every channel.
    public var redisWatch: [String]?
    public var metricsHost = "127.0.0.1"
    public var metricsPort = 9480
    /// Which consumers have per-consumer series on `/metrics`.
    public var consumerSeries = ConsumerSeriesSelection.auto
    /// Where the credentials `/metrics`, the API and the status page require are read from; nil: none.
    public var metricsAuth: HTTPCredentials.Source?
    public var grouping = ChannelGrouping()
    /// JSON field holding the publish time (ms since the epoch, or RFC 3339), or nil.
    public var timestampField: String?
    /// Channel consumers publish heartbeats on.
    public var heartbeatChannel = "lookout:heartbeat"
    /// The consumer failure detector's settings.
    public var detector = ConsumerStateMachine.Configuration()
    /// Globs the user declares consumed through pattern subscriptions (`consumers.patterns`).
    public var consumedPatterns: [String] = []
    /// URLs that receive consumer alerts in Alertmanager's webhook format.
    public var alertWebhooks: [String] = []
    /// Alertmanager base URLs that receive consumer alerts through its API.
    public var alertmanagers: [String] = []
    /// Seconds a channel without consumers or a lost source must last before it alerts.
    public var alertHold: Double = 30
    /// Bus channel alerts are published on; nil turns it off.
    public var alertChannel: String? = "lookout:alerts"
    public var logLevel = "info"
    /// The SQLite database history is recorded in; nil records nothing.
    public var storePath: String? = "lookout.db"
    /// Seconds between two writes of the store.
    public var storeFlushInterval: Double = 1
    /// The resolutions channel history is kept at, and how long.
    public var storeTiers = StoreTiers.default
    /// Seconds state changes, alerts and source gaps are kept (the coarsest tier's retention
    /// unless set apart).
    public var eventRetention: Double = 30 * 24 * 3600
    /// Bytes the database file and its write-ahead log stay within.
    public var storeMaxSize = 1 << 30
    /// Synthetic publishers and consumers on the embedded relay (`--demo`).
    public var demo = false
    /// Whether the monitor watches the embedded relay; off only to measure what watching costs.
    public var observeRelay = true
    /// Event contracts, each for the channels its glob matches (schema files not read yet).
    public var contracts: [ContractSetting] = []

    public init() {}

    /// Lookout's own channels (heartbeats, probes, alerts): the monitor is their receiver, so
    /// they are never reported as consumer-less nor counted as unrouted.
    public var ownChannels: Set<String> {
        Set([heartbeatChannel, "lookout:probe"] + (alertChannel.map { [$0] } ?? []))
    }

    /// The old retention settings: `raw` is the finest tier's, `rollup` the coarsest's and the
    /// events'.
    mutating func setRetentions(raw: Double?, rollup: Double?, keys: (raw: String, rollup: String)) throws(ConfigurationError) {
        if let raw {
            storeTiers = try Self.storeTiers(key: keys.raw) { () throws(StoreTiers.Invalid) in
                try storeTiers.withFinestRetention(raw)
            }
        }
        if let rollup {
            storeTiers = try Self.storeTiers(key: keys.rollup) { () throws(StoreTiers.Invalid) in
                try storeTiers.withCoarsestRetention(rollup)
            }
            eventRetention = rollup
        }
    }

    static func storeTiers(key: String, _ body: () throws(StoreTiers.Invalid) -> StoreTiers) throws(ConfigurationError) -> StoreTiers {
        do { return try body() } catch { throw ConfigurationError(key: key, reason: error.description) }
    }

    /// A budget small enough to be a mistake is refused: 16 MiB at least.
    static func storeMaxSize(_ bytes: Int, key: String) throws(ConfigurationError) -> Int {
        guard bytes >= 16 << 20 else { throw ConfigurationError(key: key, reason: "must be at least 16mb") }
        return bytes
    }

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Reads a YAML document; every problem names its key and the reason.
    public static func parse(yaml: String) throws(ConfigurationError) -> ServeConfiguration {
        let document: Yams.Node?
        do {
            document = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(key: "(file)", reason: "not valid YAML: \(error)")
        }
        var budget = maxDocumentValues
        let plainDocument = try document.map { (root) throws(ConfigurationError) in try plain(root, key: "", budget: &budget) }
        var configuration = ServeConfiguration()
        guard let plainDocument else { return configuration }
        let root = try Node(plainDocument, key: "").map()
        try root.allowOnly(allowedKeys(under: ""))
        if let contracts = try root.optional("contracts")?.list() {
            configuration.contracts = try contracts.map { (node) throws(ConfigurationError) in try node.contract() }
            if let (first, second) = ContractSet.firstOverlap(configuration.contracts.map(\.channels)) {
                throw ConfigurationError(key: "contracts[\(second)].channels",
                                         reason: "'\(configuration.contracts[second].channels)' and contracts[\(first)]'s '\(configuration.contracts[first].channels)' can match the same channel: give each channel one contract")
            }
        }
        if let store = try root.optional("store")?.map() {
            try store.allowOnly(allowedKeys(under: "store"))
            if let path = try store.optional("path")?.string() { configuration.storePath = path.isEmpty ? nil : path }
            if let flush = try store.optional("flush_interval")?.duration() { configuration.storeFlushInterval = flush }
            if let tiers = try store.optional("tiers")?.list() {
                var parsed: [StoreTiers.Tier] = []
                for tier in tiers {
                    let entry = try tier.map()
                    try entry.allowOnly(allowedKeys(under: "store.tiers[]"))
                    let resolutionNode = try entry.required("resolution")
                    let resolution = try resolutionNode.duration()
                    guard resolution >= 1, resolution == resolution.rounded() else {
                        throw resolutionNode.fail("must be a whole number of seconds, 1s or more")
                    }
                    parsed.append(.init(resolution: Int64(resolution), retention: try entry.required("retention").duration()))
                }
                configuration.storeTiers = try storeTiers(key: "store.tiers") { () throws(StoreTiers.Invalid) in try StoreTiers(parsed) }
                configuration.eventRetention = configuration.storeTiers.coarsest.retention
            }
            if let size = try store.optional("max_size")?.size() { configuration.storeMaxSize = try storeMaxSize(size, key: "store.max_size") }
            try configuration.setRetentions(raw: try store.optional("raw_retention")?.duration(),
                                            rollup: try store.optional("rollup_retention")?.duration(),
                                            keys: ("store.raw_retention", "store.rollup_retention"))
        }
        if let consumers = try root.optional("consumers")?.map() {
            try consumers.allowOnly(allowedKeys(under: "consumers"))
            if let patterns = try consumers.optional("patterns")?.list() {
                configuration.consumedPatterns = try patterns.map { (node) throws(ConfigurationError) in try node.consumedPattern() }
            }
            if let channel = try consumers.optional("heartbeat_channel")?.string() { configuration.heartbeatChannel = channel }
            if let late = try consumers.optional("late_after")?.positiveNumber() { configuration.detector.lateAfter = late }
            if let down = try consumers.optional("down_after")?.positiveNumber() { configuration.detector.downAfter = down }
            if let window = try consumers.optional("stall_window")?.duration() { configuration.detector.stallWindow = window }
            if let window = try consumers.optional("lag_window")?.duration() { configuration.detector.lagWindow = window }
            if let grace = try consumers.optional("reconnect_grace")?.duration() { configuration.detector.reconnectGrace = grace }
            if let threshold = try consumers.optional("phi_threshold")?.positiveNumber() {
                configuration.detector.phiAccrual = configuration.detector.phiAccrual ?? PhiAccrual.Configuration()
                configuration.detector.phiAccrual?.threshold = threshold
            }
            if let detector = consumers.optional("detector") {
                try configuration.setDetector(try detector.string(), key: detector.key)
            }
            guard configuration.detector.downAfter > configuration.detector.lateAfter else {
                throw ConfigurationError(key: "consumers.down_after", reason: "must be greater than late_after")
            }
        }
        if let alerts = try root.optional("alerts")?.map() {
            try alerts.allowOnly(allowedKeys(under: "alerts"))
            if let hold = try alerts.optional("hold")?.duration() { configuration.alertHold = hold }
            if let hooks = try alerts.optional("webhooks")?.list() {
                configuration.alertWebhooks = try hooks.map { (node) throws(ConfigurationError) in try node.webhookURL() }
            }
            if let managers = try alerts.optional("alertmanagers")?.list() {
                configuration.alertmanagers = try managers.map { (node) throws(ConfigurationError) in try node.webhookURL() }
            }
            if let channel = try alerts.optional("channel")?.string() {
                configuration.alertChannel = channel.isEmpty ? nil : channel
            }
        }
        if let relay = try root.optional("relay")?.map() {
            try relay.allowOnly(allowedKeys(under: "relay"))
            if let tls = try relay.optional("tls")?.map() {
                try tls.allowOnly(allowedKeys(under: "relay.tls"))
                let (host, port) = try tls.required("address").hostPort()
                var settings = RelayTLS(host: host, port: port, certificatePath: try tls.required("cert").string(),
                                        keyPath: try tls.required("key").string(), caPath: try tls.optional("ca")?.string())
                if let mode = tls.optional("auth_clients") {
                    let text = try mode.string()
                    guard let parsed = RelayTLS.ClientAuthentication(rawValue: text) else { throw mode.fail("'\(text)' is not one of yes, no, optional") }
                    settings.clientAuthentication = parsed
                }
                settings.only = try tls.optional("only")?.bool() ?? false
                if let problem = settings.inconsistency { throw ConfigurationError(key: "relay.tls.auth_clients", reason: problem) }
                configuration.relay.tls = settings
            }
            if let users = try relay.optional("users")?.list() {
                configuration.relay.users = try users.map { node throws(ConfigurationError) in try node.relayUser() }
                var seen: Set<String> = []
                for (index, user) in configuration.relay.users.enumerated() where !seen.insert(user.name).inserted {
                    throw ConfigurationError(key: "relay.users[\(index)].name", reason: "'\(user.name)' is listed twice")
                }
                if relay.optional("password") != nil {
                    throw ConfigurationError(key: "relay.password",
                                             reason: "not used with relay.users (the default user is off unless listed): list a user named default instead")
                }
            }
            if let protected = try relay.optional("protected_mode")?.bool() { configuration.relay.protectedMode = protected }
            if let enabled = try relay.optional("enabled")?.bool() { configuration.relayEnabled = enabled }
            if let address = relay.optional("address") {
                let (host, port) = try address.hostPort()
                configuration.relay.host = host
                configuration.relay.port = port
            }
            if let password = try relay.optional("password")?.string() { configuration.relay.password = password }
            if let maxClients = try relay.optional("max_clients")?.positiveInteger() { configuration.relay.maxClients = maxClients }
            if let limit = relay.optional("client_output_buffer_limit") {
                configuration.relay.outputBufferLimits = try limit.outputBufferLimits()
            }
            if let bulk = relay.optional("proto_max_bulk_len") {
                configuration.relay.requestLimits.maxBulkLength = try bulk.size()
            }
            if let keepalive = relay.optional("tcp_keepalive") { configuration.relay.tcpKeepalive = try keepalive.nonNegativeInteger() }
        }
        if let redis = root.optional("redis") {
            var urls = redis
            if redis.value is [String: Any] {
                let settings = try redis.map()
                try settings.allowOnly(allowedKeys(under: "redis"))
                if let watch = settings.optional("watch") {
                    let globs = try watch.list()
                    guard !globs.isEmpty else { throw watch.fail("an empty watch sees nothing; leave it out to watch every channel") }
                    configuration.redisWatch = try globs.map { (node) throws(ConfigurationError) in try node.watchedGlob() }
                }
                if let timeout = settings.optional("link_timeout") { configuration.redisLinkTimeout = try timeout.linkTimeout() }
                if let tls = try settings.optional("tls")?.map() {
                    try tls.allowOnly(allowedKeys(under: "redis.tls"))
                    configuration.redisTLS.caPath = try tls.optional("ca")?.string()
                    configuration.redisTLS.certificatePath = try tls.optional("cert")?.string()
                    configuration.redisTLS.keyPath = try tls.optional("key")?.string()
                    configuration.redisTLS.verify = !(try tls.optional("insecure")?.bool() ?? false)
                }
                urls = settings.optional("urls") ?? Node([Any](), key: settings.key)
            }
            configuration.redis = try urls.list().map { (node) throws(ConfigurationError) in try node.redisURL() }
        }
        if let metrics = try root.optional("metrics")?.map() {
            try metrics.allowOnly(allowedKeys(under: "metrics"))
            if let selection = metrics.optional("consumer_series") {
                let text = try selection.string()
                guard let parsed = ConsumerSeriesSelection(rawValue: text) else {
                    throw selection.fail("'\(text)' is not one of auto, all, unhealthy, none")
                }
                configuration.consumerSeries = parsed
            }
            if let auth = metrics.optional("auth") {
                let text = try auth.string()
                guard let source = HTTPCredentials.Source(text) else { throw auth.fail("'\(text)' is not basic:FILE or bearer:FILE") }
                configuration.metricsAuth = source
            }
            if let address = metrics.optional("address") {
                (configuration.metricsHost, configuration.metricsPort) = try address.hostPort()
            }
        }
        if let channels = try root.optional("channels")?.map() {
            try channels.allowOnly(allowedKeys(under: "channels"))
            if let max = try channels.optional("max_tracked")?.positiveInteger() { configuration.grouping.maxTrackedChannels = max }
            if let groups = try channels.optional("groups")?.list() {
                configuration.grouping.rules = try groups.map { (group) throws(ConfigurationError) in
                    let entry = try group.map()
                    try entry.allowOnly(allowedKeys(under: "channels.groups[]"))
                    guard let pattern = try entry.optional("pattern")?.string(), !pattern.isEmpty else {
                        throw ConfigurationError(key: entry.key + ".pattern", reason: "required, a glob such as user:*:events")
                    }
                    return ChannelGrouping.Rule(pattern: pattern, label: try entry.optional("label")?.string())
                }
            }
            if let exclude = try channels.optional("exclude")?.list() {
                configuration.grouping.exclusions = try exclude.map { (node) throws(ConfigurationError) in try node.string() }
            }
            configuration.timestampField = try channels.optional("timestamp_field")?.string()
        }
        if let level = try root.optional("log_level")?.string() {
            guard logLevels.contains(level) else {
                throw ConfigurationError(key: "log_level", reason: "'\(level)' is not one of \(logLevels.joined(separator: ", "))")
            }
            configuration.logLevel = level
        }
        return configuration
    }
}

extension ServeConfiguration {
    /// Most values a configuration document may hold, aliases expanded: a file that is not a
    /// configuration (or an alias bomb) is refused instead of filling memory.
    static let maxDocumentValues = 100_000

    /// The YAML tree as plain values (`[String: Any]`, `[Any]`, `String`, `Int`, `Double`,
    /// `Bool`, ``YAMLNull``), built here rather than by Yams's constructor, which traps on a
    /// key that is not a scalar.
    private static func plain(_ node: Yams.Node, key: String, budget: inout Int) throws(ConfigurationError) -> Any {
        budget -= 1
        guard budget >= 0 else {
            throw ConfigurationError(key: "(file)", reason: "more than \(maxDocumentValues) values (aliases expanded): not a Lookout configuration")
        }
        let here = key.isEmpty ? "(file)" : key
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: return YAMLNull()
            case .bool: return Bool.construct(from: scalar) ?? scalar.string
            case .int:
                // YAML 1.1's base-60 integers ("1:20") overflow inside Yams's constructor, a trap
                // (found by `make fuzz`'s config target: `+17171414171714147:47:4`). No Lookout
                // setting takes a base-60 number: such a scalar stays text, and a setting that
                // wants a number says so with its key.
                if scalar.string.contains(":") { return scalar.string }
                return Int.construct(from: scalar) ?? scalar.string
            case .float: return Double.construct(from: scalar) ?? scalar.string
            default: return scalar.string
            }
        case .mapping(let mapping):
            var values: [String: Any] = [:]
            for (name, value) in mapping {
                guard case .scalar(let scalar) = name else {
                    throw ConfigurationError(key: here, reason: "a key must be a plain name, not a list or a mapping")
                }
                let path = key.isEmpty ? scalar.string : "\(key).\(scalar.string)"
                guard values[scalar.string] == nil else { throw ConfigurationError(key: path, reason: "given twice") }
                values[scalar.string] = try plain(value, key: path, budget: &budget)
            }
            return values
        case .sequence(let sequence):
            var items: [Any] = []
            for (index, item) in sequence.enumerated() { items.append(try plain(item, key: "\(key)[\(index)]", budget: &budget)) }
            return items
        case .alias:
            throw ConfigurationError(key: here, reason: "an alias that names no anchor")
        }
    }

    /// `fixed` (k × interval) or `phi` (phi-accrual).
    public mutating func setDetector(_ name: String, key: String) throws(ConfigurationError) {
        switch name {
        case "fixed": detector.phiAccrual = nil
        case "phi": detector.phiAccrual = detector.phiAccrual ?? PhiAccrual.Configuration()
        default: throw ConfigurationError(key: key, reason: "'\(name)' is not fixed or phi")
        }
    }

    /// `host:port` (with `[v6]:port`), as a flag or file value.
    public static func hostPort(_ text: String) throws(ConfigurationError) -> (String, Int) { try Node(text, key: "").hostPort() }
    public static func positive(_ number: Int) throws(ConfigurationError) -> Int { try Node(number, key: "").positiveInteger() }
    public static func size(_ text: String) throws(ConfigurationError) -> Int { try Node(text, key: "").size() }
    public static func outputBufferLimits(_ text: String) throws(ConfigurationError) -> OutputBufferPolicy.Limits {
        try Node(text, key: "").outputBufferLimits()
    }
    public static func redisURL(_ text: String) throws(ConfigurationError) -> RedisURL { try Node(text, key: "").redisURL() }
    public static func linkTimeout(_ text: String) throws(ConfigurationError) -> Double { try Node(text, key: "").linkTimeout() }
    public static func webhookURL(_ text: String) throws(ConfigurationError) -> String { try Node(text, key: "").webhookURL() }
}

/// A configuration value that cannot be used, with the key that holds it.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Dotted path of the key, e.g. `relay.max_clients` or `channels.groups[1].pattern`.
    public var key: String
    public var reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }

    public var description: String { "\(key): \(reason)" }
}

/// A YAML null (`~`, `null` or nothing), which no setting accepts as its value.
struct YAMLNull {}

/// A value in the YAML document with its key path, and typed accessors that fail with that path.
/// One `contracts:` entry as configured: the checks, and the schema files (read at start).
public struct ContractSetting: Sendable, Hashable {
    public var channels: String
    public var format: EventContract.Format
    public var fields: EventContract.Fields
    /// Schema files by event type (or `type@version`), as given (relative to the config file).
    public var schemaFiles: [String: String]
    public var requireSchema: Bool
    public var sequence: Bool
    /// Seconds of the duplicate window; nil: duplicates not checked.
    public var duplicates: Double?

    public init(channels: String, format: EventContract.Format, fields: EventContract.Fields? = nil, schemaFiles: [String: String] = [:],
                requireSchema: Bool = false, sequence: Bool = false, duplicates: Double? = nil) {
        self.channels = channels
        self.format = format
        self.fields = fields ?? (format == .cloudevents ? .cloudEvents : .init())
        self.schemaFiles = schemaFiles
        self.requireSchema = requireSchema
        self.sequence = sequence
        self.duplicates = duplicates
    }
}

private struct Node {
    let value: Any
    let key: String

    init(_ value: Any, key: String) {
        self.value = value
        self.key = key
    }

    func child(_ name: String) -> String { key.isEmpty ? name : "\(key).\(name)" }

    func fail(_ reason: String) -> ConfigurationError { ConfigurationError(key: key.isEmpty ? "(file)" : key, reason: reason) }

    func map() throws(ConfigurationError) -> MapNode {
        guard let dictionary = value as? [String: Any] else { throw fail("expected a mapping of keys to values") }
        return MapNode(values: dictionary, key: key)
    }

    func list() throws(ConfigurationError) -> [Node] {
        guard let array = value as? [Any] else { throw fail("expected a list") }
        return array.enumerated().map { Node($1, key: "\(key)[\($0)]") }
    }

    func string() throws(ConfigurationError) -> String {
        if let text = value as? String { return text }
        if let number = value as? Int { return String(number) }
        throw fail("expected a string")
    }

    func bool() throws(ConfigurationError) -> Bool {
        guard let flag = value as? Bool else { throw fail("expected true or false") }
        return flag
    }

    func positiveNumber() throws(ConfigurationError) -> Double {
        if let number = value as? Int, number > 0 { return Double(number) }
        if let number = value as? Double, number > 0 { return number }
        throw fail("expected a number greater than 0")
    }

    func duration() throws(ConfigurationError) -> Double {
        let text = try string()
        guard let seconds = DurationText.seconds(text) else { throw fail("'\(text)' is not a duration such as 60s") }
        return seconds
    }

    /// A Redis link timeout: a duration of at least a second (a shorter one would find links
    /// dead between two pings).
    func linkTimeout() throws(ConfigurationError) -> Double {
        let seconds = try duration()
        guard seconds >= 1 else { throw fail("must be at least 1s") }
        return seconds
    }

    func nonNegativeInteger() throws(ConfigurationError) -> Int {
        guard let number = value as? Int, number >= 0 else { throw fail("expected a whole number, 0 or more") }
        return number
    }

    func positiveInteger() throws(ConfigurationError) -> Int {
        guard let number = value as? Int, number > 0 else { throw fail("expected a whole number greater than 0") }
        return number
    }

    /// One of `relay.users`: name, password or password_hash (SHA-256, hex), enabled, channels.
    func relayUser() throws(ConfigurationError) -> RelayUser {
        let entry = try map()
        try entry.allowOnly(ServeConfiguration.allowedKeys(under: "relay.users[]"))
        let nameNode = try entry.required("name")
        let name = try nameNode.string()
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { throw nameNode.fail("a user name is printable ASCII without spaces") }
        let enabled = try entry.optional("enabled")?.bool() ?? true
        let channels = try entry.optional("channels")?.list().map { node throws(ConfigurationError) in try node.string() } ?? []
        switch (entry.optional("password"), entry.optional("password_hash")) {
        case (let password?, nil):
            let text = try password.string()
            guard !text.isEmpty else { throw password.fail("must not be empty") }
            return RelayUser(name: name, password: text, enabled: enabled, channels: channels)
        case (nil, let hash?):
            guard let bytes = RelayUser.hash(hex: try hash.string()) else { throw hash.fail("expected 64 hexadecimal digits (SHA-256), as sha256sum prints") }
            return RelayUser(name: name, passwordHash: bytes, enabled: enabled, channels: channels)
        case (nil, nil):
            throw ConfigurationError(key: "\(key).password", reason: "missing: give password or password_hash")
        case (_?, _?):
            throw ConfigurationError(key: "\(key).password_hash", reason: "give password or password_hash, not both")
        }
    }

    func hostPort() throws(ConfigurationError) -> (String, Int) {
        let text = try string()
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw fail("'\(text)' is not host:port")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw fail("'\(text)' has no host") }
        return (host, port)
    }

    func size() throws(ConfigurationError) -> Int {
        let text = try string()
        guard let bytes = OutputBufferPolicy.Limits.parseMemory(Substring(text)), bytes > 0 else {
            throw fail("'\(text)' is not a size such as 512mb")
        }
        return bytes
    }

    func outputBufferLimits() throws(ConfigurationError) -> OutputBufferPolicy.Limits {
        let text = try string()
        guard let limits = OutputBufferPolicy.Limits(redisSyntax: text) else {
            throw fail("'\(text)' is not 'hard soft seconds', e.g. 32mb 8mb 60")
        }
        return limits
    }

    /// One of `redis.watch`: a glob Redis will take as meant.
    func watchedGlob() throws(ConfigurationError) -> String {
        let text = try string()
        if let problem = GlobPattern.problem(in: text) { throw fail(problem) }
        return text
    }

    /// One of `consumers.patterns`: a non-empty glob.
    func consumedPattern() throws(ConfigurationError) -> String {
        let text = try string()
        guard !text.isEmpty else { throw fail("must not be empty") }
        return text
    }

    func webhookURL() throws(ConfigurationError) -> String {
        let text = try string()
        guard text.hasPrefix("http://") || text.hasPrefix("https://"), text.count > "https://".count else {
            throw fail("'\(text)' is not an http:// or https:// URL")
        }
        return text
    }

    /// One of `contracts`: channels, format, fields, schemas, require_schema, sequence, duplicates.
    func contract() throws(ConfigurationError) -> ContractSetting {
        let entry = try map()
        try entry.allowOnly(ServeConfiguration.allowedKeys(under: "contracts[]"))
        let channelsNode = try entry.required("channels")
        let channels = try channelsNode.string()
        guard !channels.isEmpty else { throw channelsNode.fail("must be a channel glob such as orders.*") }
        let formatNode = try entry.required("format")
        let formatName = try formatNode.string()
        guard let format = EventContract.Format(rawValue: formatName) else {
            throw formatNode.fail("'\(formatName)' is not a format: cloudevents or json")
        }
        var setting = ContractSetting(channels: channels, format: format)
        if let fields = try entry.optional("fields")?.map() {
            try fields.allowOnly(ServeConfiguration.allowedKeys(under: "contracts[].fields"))
            if let id = try fields.optional("id")?.string() { setting.fields.id = id }
            if let source = try fields.optional("source")?.string() { setting.fields.source = source }
            if let sequence = try fields.optional("sequence")?.string() { setting.fields.sequence = sequence }
            if let type = try fields.optional("type")?.string() { setting.fields.type = type }
            if let version = try fields.optional("version")?.string() { setting.fields.version = version }
        }
        if let schemas = try entry.optional("schemas")?.map() {
            for name in schemas.values.keys.sorted() {
                guard !name.isEmpty else { throw ConfigurationError(key: schemas.key, reason: "an event type must not be empty") }
                setting.schemaFiles[name] = try schemas.optional(name)!.string()
            }
        }
        setting.requireSchema = try entry.optional("require_schema")?.bool() ?? false
        if setting.requireSchema && setting.fields.type == nil {
            throw ConfigurationError(key: child("require_schema"), reason: "needs the field that names the type (fields.type)")
        }
        if let sequenceNode = entry.optional("sequence") {
            setting.sequence = try sequenceNode.bool()
            if setting.sequence && setting.fields.sequence == nil {
                throw sequenceNode.fail("needs the field that carries the sequence (fields.sequence)")
            }
        }
        if let window = entry.optional("duplicates") {
            let seconds = try window.duration()
            guard seconds >= 1, seconds <= 86_400 else { throw window.fail("must be between 1s and 24h") }
            guard setting.fields.id != nil else { throw window.fail("needs the field that carries the event id (fields.id)") }
            setting.duplicates = seconds
        }
        return setting
    }

    func redisURL() throws(ConfigurationError) -> RedisURL {
        let text = try string()
        guard let url = RedisURL(text) else { throw fail("'\(text)' is not redis://[user:password@]host[:port] (rediss:// for TLS)") }
        return url
    }
}

private struct MapNode {
    let values: [String: Any]
    let key: String

    func optional(_ name: String) -> Node? {
        values[name].map { Node($0, key: key.isEmpty ? name : "\(key).\(name)") }
    }

    func required(_ name: String) throws(ConfigurationError) -> Node {
        guard let node = optional(name) else { throw ConfigurationError(key: key.isEmpty ? name : "\(key).\(name)", reason: "missing") }
        return node
    }

    /// Rejects unknown keys, so that a typo is an error rather than a silently ignored setting.
    func allowOnly(_ names: Set<String>) throws(ConfigurationError) {
        for name in values.keys.sorted() where !names.contains(name) {
            throw ConfigurationError(
                key: key.isEmpty ? name : "\(key).\(name)",
                reason: "unknown key (expected one of: \(names.sorted().joined(separator: ", ")))")
        }
    }
}
