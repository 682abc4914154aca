import Glob
import LookoutCore
import PubSubCore
import RESP
import Relay
import Yams

/// Reading the configuration file: every key the document holds is a setting of the table
/// (``ServeConfiguration/settings``) or a section of them; each is read by its setting.
extension ServeConfiguration {
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Reads a YAML document, then checks the rules that span several settings; every problem
    /// names its key and the reason.
    public static func parse(yaml: String) throws(ConfigurationError) -> ServeConfiguration {
        var configuration = ServeConfiguration()
        try configuration.read(yaml: yaml)
        try configuration.assemble()
        return configuration
    }

    /// Reads a YAML document's settings on top of these, in the table's order.
    mutating func read(yaml: String) throws(ConfigurationError) {
        guard let plainDocument = try Self.plainValues(yaml: yaml) else { return }
        var found: [String: Node] = [:]
        try Self.collect(try Node(plainDocument, key: "").map(), into: &found)
        for setting in Self.settings {
            if let node = found[setting.key] { try apply(setting, node) }
        }
    }

    /// The settings under `section`, by key; unknown keys refused.
    private static func collect(_ section: MapNode, into found: inout [String: Node]) throws(ConfigurationError) {
        try section.allowOnly(allowedKeys(under: section.key))
        for name in section.values.keys.sorted() {
            let node = section.optional(name)!
            if settingKeys.contains(node.key) {
                found[node.key] = node
            } else if node.key == "redis", !(node.value is [String: Any]) {
                found["redis.urls"] = node  // `redis: [URL, …]` is short for `redis: {urls: […]}`
            } else {
                try collect(try node.map(), into: &found)
            }
        }
    }

    private static let settingKeys = Set(settings.map(\.key))

    /// Reads `node` into this configuration with `setting`, remembering where the value came from.
    mutating func apply(_ setting: Setting, _ node: Node) throws(ConfigurationError) {
        do {
            try setting.read(&self, node)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw node.fail("\(error)")
        }
        origins[setting.key] = node.key
    }

    /// Where a setting's value came from (its key in the file, or its flag), for problems found
    /// between settings.
    func origin(_ key: String) -> String { origins[key] ?? key }

    /// The rules between settings that the file and the flags share, checked once both are read:
    /// the relay's TLS listener is put together from its parts, the detector's bounds compared,
    /// the Redis TLS settings given to the `rediss://` URLs.
    mutating func assemble() throws(ConfigurationError) {
        if relayTLSParts != RelayTLSParts() {
            let parts = relayTLSParts
            func missing(_ key: String) -> ConfigurationError {
                ConfigurationError(key: key, reason: "missing: the TLS listener needs an address, a certificate and its key (relay.tls.address, cert and key; --relay-tls, --tls-cert, --tls-key)")
            }
            guard let (host, port) = parts.address else { throw missing("relay.tls.address") }
            guard let certificate = parts.certificatePath else { throw missing("relay.tls.cert") }
            guard let key = parts.keyPath else { throw missing("relay.tls.key") }
            var tls = RelayTLS(host: host, port: port, certificatePath: certificate, keyPath: key, caPath: parts.caPath)
            tls.clientAuthentication = parts.clientAuthentication
            tls.only = parts.only ?? false
            if let problem = tls.inconsistency { throw ConfigurationError(key: origin("relay.tls.auth_clients"), reason: problem) }
            relay.tls = tls
        }
        if !relay.users.isEmpty && relay.password != nil {
            throw ConfigurationError(key: origin("relay.password"),
                                     reason: "not used with relay.users (the default user is off unless listed): list a user named default instead")
        }
        guard detector.downAfter > detector.lateAfter else {
            throw ConfigurationError(key: origin("consumers.down_after"), reason: "must be greater than late_after")
        }
        if (redisTLS.certificatePath == nil) != (redisTLS.keyPath == nil) {
            throw ConfigurationError(key: origin(redisTLS.certificatePath == nil ? "redis.tls.key" : "redis.tls.cert"),
                                     reason: "a client certificate needs its key, and a key its certificate (redis.tls.cert with redis.tls.key; --redis-tls-cert with --redis-tls-key)")
        }
        if redisTLS != RedisTLSSettings() && !redis.contains(where: { $0.tls != nil }) {
            let given = ["redis.tls.ca", "redis.tls.cert", "redis.tls.key", "redis.tls.insecure"].first { origins[$0] != nil } ?? "redis.tls"
            throw ConfigurationError(key: origin(given), reason: "TLS settings are given but no Redis URL uses TLS: write rediss:// for those that do")
        }
        for index in redis.indices where redis[index].tls != nil { redis[index].tls = redisTLS }
    }
}

/// The settings the table reads with more than one accessor.
extension ServeConfiguration {
    /// `contracts`.
    mutating func readContracts(_ items: [Node]) throws(ConfigurationError) {
        contracts = try items.map { (node) throws(ConfigurationError) in try node.contract() }
        let written = contracts.indices.compactMap { index in contracts[index].setting.map { (index, $0.channels) } }
        if let (first, second) = ContractSet.firstOverlap(written.map(\.1)) {
            throw ConfigurationError(key: "contracts[\(written[second].0)].channels",
                                     reason: "'\(written[second].1)' and contracts[\(written[first].0)]'s '\(written[first].1)' can match the same channel: give each channel one contract")
        }
    }

    /// `relay.users`: each name once.
    mutating func readRelayUsers(_ items: [Node]) throws(ConfigurationError) {
        relay.users = try items.map { node throws(ConfigurationError) in try node.relayUser() }
        var seen: Set<String> = []
        for (index, user) in relay.users.enumerated() where !seen.insert(user.name).inserted {
            throw ConfigurationError(key: "\(items[index].key).name", reason: "'\(user.name)' is listed twice")
        }
    }

    /// `redis.watch`: globs Redis takes as meant, at least one.
    mutating func readWatch(_ node: Node) throws(ConfigurationError) {
        let globs = try node.list()
        guard !globs.isEmpty else { throw node.fail("an empty watch sees nothing; leave it out to watch every channel") }
        redisWatch = (redisWatch ?? []) + (try globs.map { (glob) throws(ConfigurationError) in try glob.watchedGlob() })
    }

    /// `store.tiers`, whose coarsest retention is also the events'.
    mutating func readStoreTiers(_ node: Node) throws(ConfigurationError) {
        let tiers = try node.list().map { (tier) throws(ConfigurationError) in try tier.storeTier() }
        storeTiers = try Self.storeTiers(key: node.key) { () throws(StoreTiers.Invalid) in try StoreTiers(tiers) }
        eventRetention = storeTiers.coarsest.retention
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
}

/// A YAML null (`~`, `null` or nothing), which no setting accepts as its value.
struct YAMLNull {}
