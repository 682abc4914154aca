import Glob
import LookoutCore
import PubSubCore
import RESP
import Relay

/// A value in the YAML document with its key path, and typed accessors that fail with that path.
struct Node {
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

    /// A whole number, from the file or from a flag's text.
    private var integer: Int? { value as? Int ?? (value as? String).flatMap { Int($0) } }

    func positiveNumber() throws(ConfigurationError) -> Double {
        if let number = integer, number > 0 { return Double(number) }
        if let number = value as? Double ?? (value as? String).flatMap({ Double($0) }), number > 0, number.isFinite { return number }
        throw fail("expected a number greater than 0")
    }

    func nonEmptyString() throws(ConfigurationError) -> String {
        let text = try string()
        guard !text.isEmpty else { throw fail("must not be empty") }
        return text
    }

    /// One of `names`.
    func oneOf(_ names: [String]) throws(ConfigurationError) -> String {
        let text = try string()
        guard names.contains(text) else { throw fail("'\(text)' is not one of \(names.joined(separator: ", "))") }
        return text
    }

    /// One of an enumeration's raw values.
    func oneOf<Choice: RawRepresentable & CaseIterable>(_ type: Choice.Type) throws(ConfigurationError) -> Choice where Choice.RawValue == String {
        Choice(rawValue: try oneOf(Choice.allCases.map(\.rawValue)))!
    }

    func duration() throws(ConfigurationError) -> Double {
        let text = try string()
        guard let seconds = DurationText.seconds(text) else { throw fail("'\(text)' is not a duration such as 60s") }
        return seconds
    }

    func duration(atLeast least: Double, _ reason: String) throws(ConfigurationError) -> Double {
        let seconds = try duration()
        guard seconds >= least else { throw fail(reason) }
        return seconds
    }

    /// A Redis link timeout: a duration of at least a second (a shorter one would find links
    /// dead between two pings).
    func linkTimeout() throws(ConfigurationError) -> Double { try duration(atLeast: 1, "must be at least 1s") }

    func nonNegativeInteger() throws(ConfigurationError) -> Int {
        guard let number = integer, number >= 0 else { throw fail("expected a whole number, 0 or more") }
        return number
    }

    func positiveInteger() throws(ConfigurationError) -> Int {
        guard let number = integer, number > 0 else { throw fail("expected a whole number greater than 0") }
        return number
    }

    /// `basic:FILE` or `bearer:FILE`.
    func credentialsSource() throws(ConfigurationError) -> HTTPCredentials.Source {
        let text = try string()
        guard let source = HTTPCredentials.Source(text) else { throw fail("'\(text)' is not basic:FILE or bearer:FILE") }
        return source
    }

    /// One of `channels.groups`: a glob and the label its channels count under.
    func groupingRule() throws(ConfigurationError) -> ChannelGrouping.Rule {
        let entry = try map()
        try entry.allowOnly(ServeConfiguration.allowedKeys(under: "channels.groups[]"))
        guard let pattern = try entry.optional("pattern")?.string(), !pattern.isEmpty else {
            throw ConfigurationError(key: entry.key + ".pattern", reason: "required, a glob such as user:*:events")
        }
        return ChannelGrouping.Rule(pattern: pattern, label: try entry.optional("label")?.string())
    }

    /// One of `store.tiers`: a resolution of whole seconds and a retention.
    func storeTier() throws(ConfigurationError) -> StoreTiers.Tier {
        let entry = try map()
        try entry.allowOnly(ServeConfiguration.allowedKeys(under: "store.tiers[]"))
        let resolutionNode = try entry.required("resolution")
        let resolution = try resolutionNode.duration()
        guard resolution >= 1, resolution == resolution.rounded() else {
            throw resolutionNode.fail("must be a whole number of seconds, 1s or more")
        }
        return .init(resolution: Int64(resolution), retention: try entry.required("retention").duration())
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


    func webhookURL() throws(ConfigurationError) -> String {
        let text = try string()
        guard text.hasPrefix("http://") || text.hasPrefix("https://"), text.count > "https://".count else {
            throw fail("'\(text)' is not an http:// or https:// URL")
        }
        return text
    }

    /// One of `contracts`: channels, format, fields, schemas, require_schema, sequence,
    /// duplicates; or `asyncapi` alone.
    func contract() throws(ConfigurationError) -> ContractSource {
        let entry = try map()
        if let document = entry.optional("asyncapi") {
            try entry.allowOnly(["asyncapi"])
            let path = try document.string()
            guard !path.isEmpty else { throw document.fail("must be the path of an AsyncAPI document (YAML or JSON)") }
            return .asyncAPI(path)
        }
        try entry.allowOnly(ServeConfiguration.allowedKeys(under: "contracts[]").subtracting(["asyncapi"]))
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
        return .schemas(setting)
    }

    func redisURL() throws(ConfigurationError) -> RedisURL {
        let text = try string()
        guard let url = RedisURL(text) else { throw fail("'\(text)' is not redis://[user:password@]host[:port] (rediss:// for TLS)") }
        return url
    }
}

/// A mapping in the YAML document, with its key path.
struct MapNode {
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
