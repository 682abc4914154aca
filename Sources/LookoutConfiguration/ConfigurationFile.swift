import Glob
import LookoutCore
import PubSubCore
import RESP
import Relay
import Yams

/// Reading the configuration file: the YAML document, section by section.
extension ServeConfiguration {
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Reads a YAML document; every problem names its key and the reason.
    public static func parse(yaml: String) throws(ConfigurationError) -> ServeConfiguration {
        let plainDocument = try plainValues(yaml: yaml)
        var configuration = ServeConfiguration()
        guard let plainDocument else { return configuration }
        let root = try Node(plainDocument, key: "").map()
        try root.allowOnly(allowedKeys(under: ""))
        if let contracts = try root.optional("contracts")?.list() { try configuration.readContracts(contracts) }
        if let store = try root.optional("store")?.map() { try configuration.readStore(store) }
        if let consumers = try root.optional("consumers")?.map() { try configuration.readConsumers(consumers) }
        if let alerts = try root.optional("alerts")?.map() { try configuration.readAlerts(alerts) }
        if let ha = try root.optional("ha")?.map() { try configuration.readHA(ha) }
        if let streams = try root.optional("streams")?.map() { try configuration.readStreams(streams) }
        if let relay = try root.optional("relay")?.map() { try configuration.readRelay(relay) }
        if let redis = root.optional("redis") { try configuration.readRedis(redis) }
        if let metrics = try root.optional("metrics")?.map() { try configuration.readMetrics(metrics) }
        if let channels = try root.optional("channels")?.map() { try configuration.readChannels(channels) }
        if let level = try root.optional("log_level")?.string() { try configuration.readLogLevel(level) }
        return configuration
    }
}

/// The sections of the file, each read into the configuration.
extension ServeConfiguration {
    /// `contracts`.
    fileprivate mutating func readContracts(_ items: [Node]) throws(ConfigurationError) {
        contracts = try items.map { (node) throws(ConfigurationError) in try node.contract() }
        let written = contracts.indices.compactMap { index in contracts[index].setting.map { (index, $0.channels) } }
        if let (first, second) = ContractSet.firstOverlap(written.map(\.1)) {
            throw ConfigurationError(key: "contracts[\(written[second].0)].channels",
                                     reason: "'\(written[second].1)' and contracts[\(written[first].0)]'s '\(written[first].1)' can match the same channel: give each channel one contract")
        }
    }

    /// `store`.
    fileprivate mutating func readStore(_ store: MapNode) throws(ConfigurationError) {
        try store.allowOnly(Self.allowedKeys(under: "store"))
        if let path = try store.optional("path")?.string() { storePath = path.isEmpty ? nil : path }
        if let flush = try store.optional("flush_interval")?.duration() { storeFlushInterval = flush }
        if let tiers = try store.optional("tiers")?.list() {
            var parsed: [StoreTiers.Tier] = []
            for tier in tiers {
                let entry = try tier.map()
                try entry.allowOnly(Self.allowedKeys(under: "store.tiers[]"))
                let resolutionNode = try entry.required("resolution")
                let resolution = try resolutionNode.duration()
                guard resolution >= 1, resolution == resolution.rounded() else {
                    throw resolutionNode.fail("must be a whole number of seconds, 1s or more")
                }
                parsed.append(.init(resolution: Int64(resolution), retention: try entry.required("retention").duration()))
            }
            storeTiers = try Self.storeTiers(key: "store.tiers") { () throws(StoreTiers.Invalid) in try StoreTiers(parsed) }
            eventRetention = storeTiers.coarsest.retention
        }
        if let size = try store.optional("max_size")?.size() { storeMaxSize = try Self.storeMaxSize(size, key: "store.max_size") }
        try setRetentions(raw: try store.optional("raw_retention")?.duration(),
                                        rollup: try store.optional("rollup_retention")?.duration(),
                                        keys: ("store.raw_retention", "store.rollup_retention"))
    }

    /// `consumers`.
    fileprivate mutating func readConsumers(_ consumers: MapNode) throws(ConfigurationError) {
        try consumers.allowOnly(Self.allowedKeys(under: "consumers"))
        if let patterns = try consumers.optional("patterns")?.list() {
            consumedPatterns = try patterns.map { (node) throws(ConfigurationError) in try node.consumedPattern() }
        }
        if let channel = try consumers.optional("heartbeat_channel")?.string() { heartbeatChannel = channel }
        if let late = try consumers.optional("late_after")?.positiveNumber() { detector.lateAfter = late }
        if let down = try consumers.optional("down_after")?.positiveNumber() { detector.downAfter = down }
        if let window = try consumers.optional("stall_window")?.duration() { detector.stallWindow = window }
        if let window = try consumers.optional("lag_window")?.duration() { detector.lagWindow = window }
        if let grace = try consumers.optional("reconnect_grace")?.duration() { detector.reconnectGrace = grace }
        if let threshold = try consumers.optional("phi_threshold")?.positiveNumber() {
            detector.phiAccrual = detector.phiAccrual ?? PhiAccrual.Configuration()
            detector.phiAccrual?.threshold = threshold
        }
        if let detector = consumers.optional("detector") {
            try setDetector(try detector.string(), key: detector.key)
        }
        guard detector.downAfter > detector.lateAfter else {
            throw ConfigurationError(key: "consumers.down_after", reason: "must be greater than late_after")
        }
    }

    /// `alerts`.
    fileprivate mutating func readAlerts(_ alerts: MapNode) throws(ConfigurationError) {
        try alerts.allowOnly(Self.allowedKeys(under: "alerts"))
        if let hold = try alerts.optional("hold")?.duration() { alertHold = hold }
        if let hooks = try alerts.optional("webhooks")?.list() {
            alertWebhooks = try hooks.map { (node) throws(ConfigurationError) in try node.webhookURL() }
        }
        if let managers = try alerts.optional("alertmanagers")?.list() {
            alertmanagers = try managers.map { (node) throws(ConfigurationError) in try node.webhookURL() }
        }
        if let channel = try alerts.optional("channel")?.string() {
            alertChannel = channel.isEmpty ? nil : channel
        }
    }

    /// `ha`.
    fileprivate mutating func readHA(_ ha: MapNode) throws(ConfigurationError) {
        try ha.allowOnly(Self.allowedKeys(under: "ha"))
        if let group = try ha.optional("group")?.string() { haGroup = try Self.haGroup(group, key: "ha.group") }
        if let lease = try ha.optional("lease")?.duration() { haLease = try Self.haLease(lease, key: "ha.lease") }
        if let instance = try ha.optional("instance")?.string() {
            guard !instance.isEmpty else { throw ConfigurationError(key: "ha.instance", reason: "must not be empty") }
            haInstance = instance
        }
    }

    /// `streams`.
    fileprivate mutating func readStreams(_ streams: MapNode) throws(ConfigurationError) {
        try streams.allowOnly(Self.allowedKeys(under: "streams"))
        if let match = try streams.optional("match")?.list() {
            streamsMatch = try match.map { (node) throws(ConfigurationError) in try node.watchedGlob() }
        }
        if let interval = streams.optional("interval") {
            streamsInterval = try interval.duration()
            guard streamsInterval >= 0.1 else { throw interval.fail("must be 100ms or more") }
        }
        if let max = streams.optional("max") { streamsMax = try max.positiveInteger() }
        if let poison = streams.optional("poison_deliveries") { streamsPoisonDeliveries = try poison.positiveInteger() }
        if let dead = try streams.optional("dead_after")?.duration() { streamsDeadAfter = dead }
    }

    /// `relay`.
    fileprivate mutating func readRelay(_ section: MapNode) throws(ConfigurationError) {
        try section.allowOnly(Self.allowedKeys(under: "relay"))
        if let tls = try section.optional("tls")?.map() {
            try tls.allowOnly(Self.allowedKeys(under: "relay.tls"))
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
            relay.tls = settings
        }
        if let users = try section.optional("users")?.list() {
            relay.users = try users.map { node throws(ConfigurationError) in try node.relayUser() }
            var seen: Set<String> = []
            for (index, user) in relay.users.enumerated() where !seen.insert(user.name).inserted {
                throw ConfigurationError(key: "relay.users[\(index)].name", reason: "'\(user.name)' is listed twice")
            }
            if section.optional("password") != nil {
                throw ConfigurationError(key: "relay.password",
                                         reason: "not used with relay.users (the default user is off unless listed): list a user named default instead")
            }
        }
        if let protected = try section.optional("protected_mode")?.bool() { relay.protectedMode = protected }
        if let enabled = try section.optional("enabled")?.bool() { relayEnabled = enabled }
        if let address = section.optional("address") {
            let (host, port) = try address.hostPort()
            relay.host = host
            relay.port = port
        }
        if let password = try section.optional("password")?.string() { relay.password = password }
        if let maxClients = try section.optional("max_clients")?.positiveInteger() { relay.maxClients = maxClients }
        if let limit = section.optional("client_output_buffer_limit") {
            relay.outputBufferLimits = try limit.outputBufferLimits()
        }
        if let bulk = section.optional("proto_max_bulk_len") {
            relay.requestLimits.maxBulkLength = try bulk.size()
        }
        if let keepalive = section.optional("tcp_keepalive") { relay.tcpKeepalive = try keepalive.nonNegativeInteger() }
    }

    /// `redis`.
    fileprivate mutating func readRedis(_ section: Node) throws(ConfigurationError) {
        var urls = section
        if section.value is [String: Any] {
            let settings = try section.map()
            try settings.allowOnly(Self.allowedKeys(under: "redis"))
            if let watch = settings.optional("watch") {
                let globs = try watch.list()
                guard !globs.isEmpty else { throw watch.fail("an empty watch sees nothing; leave it out to watch every channel") }
                redisWatch = try globs.map { (node) throws(ConfigurationError) in try node.watchedGlob() }
            }
            if let timeout = settings.optional("link_timeout") { redisLinkTimeout = try timeout.linkTimeout() }
            if let tls = try settings.optional("tls")?.map() {
                try tls.allowOnly(Self.allowedKeys(under: "redis.tls"))
                redisTLS.caPath = try tls.optional("ca")?.string()
                redisTLS.certificatePath = try tls.optional("cert")?.string()
                redisTLS.keyPath = try tls.optional("key")?.string()
                redisTLS.verify = !(try tls.optional("insecure")?.bool() ?? false)
            }
            urls = settings.optional("urls") ?? Node([Any](), key: settings.key)
        }
        redis = try urls.list().map { (node) throws(ConfigurationError) in try node.redisURL() }
    }

    /// `metrics`.
    fileprivate mutating func readMetrics(_ metrics: MapNode) throws(ConfigurationError) {
        try metrics.allowOnly(Self.allowedKeys(under: "metrics"))
        if let selection = metrics.optional("consumer_series") {
            let text = try selection.string()
            guard let parsed = ConsumerSeriesSelection(rawValue: text) else {
                throw selection.fail("'\(text)' is not one of auto, all, unhealthy, none")
            }
            consumerSeries = parsed
        }
        if let auth = metrics.optional("auth") {
            let text = try auth.string()
            guard let source = HTTPCredentials.Source(text) else { throw auth.fail("'\(text)' is not basic:FILE or bearer:FILE") }
            metricsAuth = source
        }
        if let address = metrics.optional("address") {
            (metricsHost, metricsPort) = try address.hostPort()
        }
    }

    /// `channels`.
    fileprivate mutating func readChannels(_ channels: MapNode) throws(ConfigurationError) {
        try channels.allowOnly(Self.allowedKeys(under: "channels"))
        if let max = try channels.optional("max_tracked")?.positiveInteger() { grouping.maxTrackedChannels = max }
        if let groups = try channels.optional("groups")?.list() {
            grouping.rules = try groups.map { (group) throws(ConfigurationError) in
                let entry = try group.map()
                try entry.allowOnly(Self.allowedKeys(under: "channels.groups[]"))
                guard let pattern = try entry.optional("pattern")?.string(), !pattern.isEmpty else {
                    throw ConfigurationError(key: entry.key + ".pattern", reason: "required, a glob such as user:*:events")
                }
                return ChannelGrouping.Rule(pattern: pattern, label: try entry.optional("label")?.string())
            }
        }
        if let exclude = try channels.optional("exclude")?.list() {
            grouping.exclusions = try exclude.map { (node) throws(ConfigurationError) in try node.string() }
        }
        timestampField = try channels.optional("timestamp_field")?.string()
        inferShapes = try channels.optional("infer_shapes")?.bool() ?? inferShapes
    }

    /// `log_level`.
    fileprivate mutating func readLogLevel(_ level: String) throws(ConfigurationError) {
        guard Self.logLevels.contains(level) else {
            throw ConfigurationError(key: "log_level", reason: "'\(level)' is not one of \(Self.logLevels.joined(separator: ", "))")
        }
        logLevel = level
    }
}

extension ServeConfiguration {
    /// Most values a configuration document may hold, aliases expanded: a file that is not a
    /// configuration (or an alias bomb) is refused instead of filling memory.
    static let maxDocumentValues = 100_000

    /// A YAML document (JSON is YAML) as plain values, or nil when it is empty.
    static func plainValues(yaml: String) throws(ConfigurationError) -> Any? {
        let document: Yams.Node?
        do {
            document = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(key: "(file)", reason: "not valid YAML: \(error)")
        }
        var budget = maxDocumentValues
        return try document.map { (root) throws(ConfigurationError) in try plain(root, key: "", budget: &budget) }
    }

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

/// A YAML null (`~`, `null` or nothing), which no setting accepts as its value.
struct YAMLNull {}
