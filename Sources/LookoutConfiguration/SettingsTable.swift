import LookoutCore
import PubSubCore
import RESP
import Relay

extension ServeConfiguration {
    /// Every setting, in the order `lookout config example` writes them and the file and the
    /// flags are read in (a later setting may refine an earlier one: `consumers.detector` after
    /// `consumers.phi_threshold`, the old retention names after `store.tiers`).
    public static let settings: [Setting] = relaySettings + redisSettings + metricsSettings + channelSettings + consumerSettings
        + alertSettings + haSettings + streamSettings + storeSettings + [
            Setting("log_level", "How much Lookout logs: trace, debug, info, notice, warning, error or critical.", flag: "--log-level",
                    read: { $0.logLevel = try $1.oneOf(logLevels) }) { .text($0.logLevel) },
            Setting("contracts", "Event contracts: the events on the channels a glob matches are checked against a format and JSON Schemas (one contract per channel).",
                    example: """
                    - channels: "orders.*"
                      format: cloudevents
                      fields: {sequence: seq}
                      schemas: {order.created: schemas/order-created.json}
                      sequence: true
                      duplicates: 10m
                    """,
                    fields: [
                        .init("channels", "The glob of the channels the contract covers."),
                        .init("format", "cloudevents or json."),
                        .init("fields", "The payload's fields that carry what the checks need.", fields: [
                            .init("id", "The event's id (duplicates)."), .init("source", "The publisher (sequences are per source)."),
                            .init("sequence", "A number that grows by one per event and source (lost and reordered events)."),
                            .init("type", "The event's type (picks the schema)."), .init("version", "The event's schema version."),
                        ]),
                        .init("schemas", "Event type → JSON Schema file (relative to the configuration file's directory)."),
                        .init("require_schema", "Events of a type with no schema are violations."),
                        .init("sequence", "Check the sequence field for lost, reordered and repeated events."),
                        .init("duplicates", "Window in which an event id seen again is a duplicate, 1s to 24h."),
                        .init("asyncapi", "Instead of the keys above: an AsyncAPI 3.0 or 2.6 document (YAML or JSON, relative to the configuration file's directory) whose channels are contracts."),
                    ], read: { try $0.readContracts(try $1.list()) }) { configuration in
                configuration.contracts.isEmpty ? nil : .list(configuration.contracts.map(\.settingValue))
            },
        ]

    private static let relaySettings: [Setting] = [
        Setting("relay.enabled", "Run the embedded relay (broker mode); false for sidecar mode.", flag: "--no-relay", flagSets: false,
                read: { $0.relayEnabled = try $1.bool() }) { .bool($0.relayEnabled) },
        Setting("relay.address", "Address the relay listens on (host:port).", flag: "--relay",
                read: { ($0.relay.host, $0.relay.port) = try $1.hostPort() }) { .address($0.relay.host, $0.relay.port) },
        Setting("relay.password", "Password clients send with AUTH (Redis's requirepass).", flag: "--relay-password",
                environment: EnvironmentKey.relayPassword, secret: true, example: "s3cret",
                read: { $0.relay.password = try $1.string() }) { $0.relay.password.map { .text($0) } },
        Setting("relay.max_clients", "Most clients connected at once.", flag: "--max-clients",
                read: { $0.relay.maxClients = try $1.positiveInteger() }) { .number($0.relay.maxClients) },
        Setting("relay.client_output_buffer_limit", "Subscribers' output buffer limit, 'hard soft seconds' (Redis's client-output-buffer-limit pubsub).",
                flag: "--client-output-buffer-limit", read: { $0.relay.outputBufferLimits = try $1.outputBufferLimits() }) {
            let limits = $0.relay.outputBufferLimits
            return .text("\(SettingValue.sizeText(limits.hardBytes)) \(SettingValue.sizeText(limits.softBytes)) \(limits.softSeconds)")
        },
        Setting("relay.proto_max_bulk_len", "Largest bulk string a client may send.", flag: "--proto-max-bulk-len",
                read: { $0.relay.requestLimits.maxBulkLength = try $1.size() }) {
            .size($0.relay.requestLimits.maxBulkLength)
        },
        Setting("relay.tcp_keepalive", "Seconds idle before TCP keep-alive probes reap a half-open client; 0 turns them off.", flag: "--tcp-keepalive",
                read: { $0.relay.tcpKeepalive = try $1.nonNegativeInteger() }) {
            .number($0.relay.tcpKeepalive)
        },
        Setting("relay.protected_mode", "With no password, listen on loopback only; false: anywhere (trusted networks only).",
                flag: "--no-protected-mode", flagSets: false, read: { $0.relay.protectedMode = try $1.bool() }) { .bool($0.relay.protectedMode) },
        Setting("relay.tls.address", "Address of the relay's TLS listener (host:port), beside the plain one.", flag: "--relay-tls",
                flagNote: "Needs --tls-cert and --tls-key.", example: "\"127.0.0.1:6381\"", read: { $0.relayTLSParts.address = try $1.hostPort() }) {
            $0.relay.tls.map { .address($0.host, $0.port) }
        },
        Setting("relay.tls.cert", "PEM certificate chain of the relay's TLS listener (read again on SIGHUP).", flag: "--tls-cert", example: "/etc/lookout/relay.crt",
                read: { $0.relayTLSParts.certificatePath = try $1.string() }) { $0.relay.tls.map { .text($0.certificatePath) } },
        Setting("relay.tls.key", "PEM private key of that certificate.", flag: "--tls-key", example: "/etc/lookout/relay.key",
                read: { $0.relayTLSParts.keyPath = try $1.string() }) { $0.relay.tls.map { .text($0.keyPath) } },
        Setting("relay.tls.ca", "PEM CA certificates client certificates are checked against.", flag: "--tls-ca", example: "/etc/lookout/ca.crt",
                read: { $0.relayTLSParts.caPath = try $1.string() }) { $0.relay.tls?.caPath.map { .text($0) } },
        Setting("relay.tls.auth_clients", "Whether clients must present a certificate signed by the CA: yes (default with a CA), no, optional.",
                flag: "--tls-auth-clients", example: "\"yes\"", read: { $0.relayTLSParts.clientAuthentication = try $1.oneOf(RelayTLS.ClientAuthentication.self) }) {
            $0.relay.tls?.clientAuthentication.map { .text($0.rawValue) }
        },
        Setting("relay.tls.only", "No plain-text listener: clients connect with TLS only.", flag: "--relay-tls-only", flagSets: true, example: "false",
                read: { $0.relayTLSParts.only = try $1.bool() }) { $0.relay.tls.map { .bool($0.only) } },
        Setting("relay.users", "ACL users (the default user is then off unless listed).",
                example: """
                - name: orders-service
                  password: s3cret
                  channels: ["orders.*"]
                """,
                fields: [
                    .init("name", "The user name."), .init("password", "Its password (or password_hash)."),
                    .init("password_hash", "SHA-256 of the password, in hex."),
                    .init("channels", "Globs it may publish and subscribe to (Redis's &pattern); \"*\" for all."),
                    .init("enabled", "false: the user cannot log in."),
                ], read: { try $0.readRelayUsers(try $1.list()) }) { configuration in
            configuration.relay.users.isEmpty ? nil : .list(configuration.relay.users.map { user in
                .mapping([.init("name", .text(user.name)), .init("password_hash", .text(maskedSecret)),
                          .init("channels", .texts(user.channels.patterns)), .init("enabled", .bool(user.enabled))])
            })
        },
    ]

    private static let redisSettings: [Setting] = [
        Setting("redis.urls", "Redis servers or cluster seeds to watch (sidecar mode): redis://[user:password@]host:port, rediss:// for TLS.",
                flag: "--redis", environment: EnvironmentKey.redisPassword,
                read: { $0.redis += try $1.list().map { node throws(ConfigurationError) in try node.redisURL() } }) { configuration in
            .list(configuration.redis.map { .text($0.maskedDescription) })
        },
        Setting("redis.link_timeout", "A link silent this long (no reply, message or pong) is closed and made again.", flag: "--redis-link-timeout",
                read: { $0.redisLinkTimeout = try $1.linkTimeout() }) {
            .duration($0.redisLinkTimeout)
        },
        Setting("redis.watch", "Globs watched (PSUBSCRIBE each); left out: every channel.", flag: "--watch", example: "[\"orders.*\", \"jobs.*\"]",
                read: { try $0.readWatch($1) }) {
            $0.redisWatch.map { .texts($0) }
        },
        Setting("redis.tls.ca", "PEM CA certificates a rediss:// server must chain to (default: the system's).", flag: "--redis-tls-ca",
                example: "/etc/lookout/redis-ca.crt", read: { $0.redisTLS.caPath = try $1.string() }) { $0.redisTLS.caPath.map { .text($0) } },
        Setting("redis.tls.cert", "PEM client certificate, for rediss:// servers that ask for one (mutual TLS).", flag: "--redis-tls-cert",
                example: "/etc/lookout/client.crt", read: { $0.redisTLS.certificatePath = try $1.string() }) { $0.redisTLS.certificatePath.map { .text($0) } },
        Setting("redis.tls.key", "PEM private key of the client certificate.", flag: "--redis-tls-key", example: "/etc/lookout/client.key",
                read: { $0.redisTLS.keyPath = try $1.string() }) {
            $0.redisTLS.keyPath.map { .text($0) }
        },
        Setting("redis.tls.insecure", "Do not check servers' certificates (anyone on the path can read and forge the traffic).",
                flag: "--redis-tls-insecure", flagSets: true, example: "false", read: { $0.redisTLS.verify = !(try $1.bool()) }) {
            $0.redisTLS.verify ? nil : .bool(true)
        },
    ]

    private static let metricsSettings: [Setting] = [
        Setting("metrics.address", "Address of the HTTP server: /metrics, /healthz, /readyz, the API and the status page.", flag: "--metrics",
                read: { ($0.metricsHost, $0.metricsPort) = try $1.hostPort() }) {
            .address($0.metricsHost, $0.metricsPort)
        },
        Setting("metrics.auth", "Credentials /metrics, the API and the status page require: basic:FILE (user:password) or bearer:FILE (a token).",
                flag: "--metrics-auth", flagNote: "/healthz and /readyz stay open.", example: "bearer:/etc/lookout/metrics.token",
                read: { $0.metricsAuth = try $1.credentialsSource() }) { configuration in
            configuration.metricsAuth.map { .text("\($0.kind.rawValue):\($0.path)") }
        },
        Setting("metrics.consumer_series", "Which consumers have their own series: auto (all up to 1,000), all, unhealthy, none.",
                flag: "--consumer-series", read: { $0.consumerSeries = try $1.oneOf(ConsumerSeriesSelection.self) }) { .text($0.consumerSeries.rawValue) },
    ]

    private static let channelSettings: [Setting] = [
        Setting("channels.max_tracked", "Most channels with series of their own; the rest count as __other__.", flag: "--max-channels",
                read: { $0.grouping.maxTrackedChannels = try $1.positiveInteger() }) {
            .number($0.grouping.maxTrackedChannels)
        },
        Setting("channels.groups", "Channels matching a glob counted under one label.", flag: "--channel-group",
                flagNote: "Given as PATTERN or PATTERN=LABEL.", flagValue: ChannelGrouping.Rule.fileForm(flag:),
                example: "- {pattern: \"user:*:events\", label: user-events}",
                fields: [.init("pattern", "The glob."), .init("label", "The label the channels count under (default: the glob).")],
                read: { $0.grouping.rules += try $1.list().map { node throws(ConfigurationError) in try node.groupingRule() } }) { configuration in
            configuration.grouping.rules.isEmpty ? nil : .list(configuration.grouping.rules.map {
                .mapping([.init("pattern", .text($0.pattern)), .init("label", .text($0.label))])
            })
        },
        Setting("channels.exclude", "Globs of channels never tracked.",
                read: { $0.grouping.exclusions = try $1.list().map { node throws(ConfigurationError) in try node.string() } }) { .texts($0.grouping.exclusions) },
        Setting("channels.timestamp_field", "JSON payload field with the publish time (ms since the epoch or RFC 3339), for latency on Redis.",
                flag: "--timestamp-field", example: "ts", read: { $0.timestampField = try $1.string() }) { $0.timestampField.map { .text($0) } },
        Setting("channels.infer_shapes", "Infer the shape of the JSON payloads on channels without a contract (sampled): lookout_channel_shape_changes_total and lookout contracts infer.",
                flag: "--infer-shapes", flagSets: true, read: { $0.inferShapes = try $1.bool() }) { .bool($0.inferShapes) },
    ]

    private static let consumerSettings: [Setting] = [
        Setting("consumers.heartbeat_channel", "Channel consumers publish heartbeats on.", flag: "--heartbeat-channel",
                read: { $0.heartbeatChannel = try $1.string() }) { .text($0.heartbeatChannel) },
        Setting("consumers.late_after", "A consumer silent this many heartbeat intervals is late.",
                read: { $0.detector.lateAfter = try $1.positiveNumber() }) { .number($0.detector.lateAfter) },
        Setting("consumers.down_after", "A consumer silent this many intervals is down (fixed detector).",
                read: { $0.detector.downAfter = try $1.positiveNumber() }) { .number($0.detector.downAfter) },
        Setting("consumers.stall_window", "A processed count standing still this long while its channels carry traffic: stalled.",
                flag: "--stall-window", read: { $0.detector.stallWindow = try $1.duration() }) { .duration($0.detector.stallWindow) },
        Setting("consumers.lag_window", "A backlog growing at every heartbeat this long: lagging.", flag: "--lag-window",
                read: { $0.detector.lagWindow = try $1.duration() }) { .duration($0.detector.lagWindow) },
        Setting("consumers.reconnect_grace", "A named connection back within this is a reconnect, not down.", flag: "--reconnect-grace",
                read: { $0.detector.reconnectGrace = try $1.duration() }) { .duration($0.detector.reconnectGrace) },
        Setting("consumers.patterns", "Globs consumed through PSUBSCRIBE on Redis (whose patterns cannot be listed).", flag: "--consumer-pattern",
                read: { $0.consumedPatterns += try $1.list().map { node throws(ConfigurationError) in try node.nonEmptyString() } }) {
            .texts($0.consumedPatterns)
        },
        // The threshold before the detector: `detector: fixed` turns off what a threshold turned on.
        Setting("consumers.phi_threshold", "The phi detector's threshold.", example: "8", read: {
            $0.detector.phiAccrual = $0.detector.phiAccrual ?? PhiAccrual.Configuration()
            $0.detector.phiAccrual?.threshold = try $1.positiveNumber()
        }) { $0.detector.phiAccrual.map { .number($0.threshold) } },
        Setting("consumers.detector", "The consumer failure detector: fixed (late and down after so many intervals) or phi (phi-accrual).", flag: "--detector",
                read: { try $0.setDetector(try $1.string(), key: $1.key) }) { .text($0.detector.phiAccrual == nil ? "fixed" : "phi") },
    ]

    private static let alertSettings: [Setting] = [
        Setting("alerts.webhooks", "URLs that receive alerts in Alertmanager's webhook format (version 4).", flag: "--alert-webhook",
                read: { $0.alertWebhooks += try $1.list().map { node throws(ConfigurationError) in try node.webhookURL() } }) { .texts($0.alertWebhooks) },
        Setting("alerts.alertmanagers", "Alertmanagers (base URLs) that receive alerts through their API (POST /api/v2/alerts).", flag: "--alertmanager",
                read: { $0.alertmanagers += try $1.list().map { node throws(ConfigurationError) in try node.webhookURL() } }) { .texts($0.alertmanagers) },
        Setting("alerts.channel", "Bus channel alerts are published on; \"\" turns it off.", flag: "--alert-channel", read: {
            let channel = try $1.string()
            $0.alertChannel = channel.isEmpty ? nil : channel
        }) { .text($0.alertChannel ?? "") },
        Setting("alerts.hold", "How long a consumer-less channel or a lost source lasts before it alerts.", flag: "--alert-hold",
                read: { $0.alertHold = try $1.duration() }) { .duration($0.alertHold) },
    ]

    private static let haSettings: [Setting] = [
        Setting("ha.group", "Makes this instance one of an HA group: instances with the same group watching the same Redis share a lease there, and only its holder sends webhooks and bus alerts (sidecar mode).",
                flag: "--ha-group", flagNote: "Needs --no-relay and --redis.", example: "\"lookout-prod\"",
                read: { $0.haGroup = try haGroup(try $1.string(), key: $1.key) }) { $0.haGroup.map { .text($0) } },
        Setting("ha.lease", "How long the group's lease holds without renewal (renewed every third of it): the longest a dead holder's notifications wait.",
                flag: "--ha-lease", read: { $0.haLease = try haLease(try $1.duration(), key: $1.key) }) { .duration($0.haLease) },
        Setting("ha.instance", "This instance's name in its group (default: the host name and the process id).", flag: "--ha-instance",
                example: "\"lookout-a\"", read: { $0.haInstance = try $1.nonEmptyString() }) { $0.haInstance.map { .text($0) } },
    ]

    private static let streamSettings: [Setting] = [
        Setting("streams.match", "Globs of the Redis Streams keys whose consumer groups are watched (sidecar mode); left out: none.",
                flag: "--stream", flagNote: "Needs --redis.", example: "[\"orders\", \"events:*\"]",
                read: { $0.streamsMatch += try $1.list().map { node throws(ConfigurationError) in try node.watchedGlob() } }) {
            $0.streamsMatch.isEmpty ? nil : .texts($0.streamsMatch)
        },
        Setting("streams.interval", "How often the watched streams are read (XINFO, XPENDING; pipelined per node).",
                flag: "--stream-interval", read: { $0.streamsInterval = try $1.duration(atLeast: 0.1, "must be 100ms or more") }) {
            .duration($0.streamsInterval)
        },
        Setting("streams.max", "Streams watched at most; the others are counted and logged once.", flag: "--stream-max",
                read: { $0.streamsMax = try $1.positiveInteger() }) {
            .number($0.streamsMax)
        },
        Setting("streams.dead_after", "A stream consumer that holds pending entries and has not read for this long is dead.",
                flag: "--stream-dead-after", read: { $0.streamsDeadAfter = try $1.duration() }) { .duration($0.streamsDeadAfter) },
        Setting("streams.poison_deliveries", "Deliveries from which a pending entry counts as poison.", flag: "--stream-poison-deliveries",
                read: { $0.streamsPoisonDeliveries = try $1.positiveInteger() }) {
            .number($0.streamsPoisonDeliveries)
        },
    ]

    private static let storeSettings: [Setting] = [
        Setting("store.path", "SQLite database history is recorded in; \"\" records nothing.", flag: "--db", read: {
            let path = try $1.string()
            $0.storePath = path.isEmpty ? nil : path
        }) { .text($0.storePath ?? "") },
        Setting("store.flush_interval", "One write transaction per interval.", flag: "--store-flush-interval",
                read: { $0.storeFlushInterval = try $1.duration() }) { .duration($0.storeFlushInterval) },
        Setting("store.tiers", "Channel history: resolution and retention of each tier, finest first.",
                fields: [.init("resolution", "Bucket length, whole seconds."), .init("retention", "How long the tier is kept.")],
                read: { try $0.readStoreTiers($1) }) { configuration in
            .list(configuration.storeTiers.tiers.map {
                .mapping([.init("resolution", .duration(Double($0.resolution))), .init("retention", .duration($0.retention))])
            })
        },
        Setting("store.max_size", "The database file and its write-ahead log stay within this (16mb at least).", flag: "--db-max-size",
                read: { $0.storeMaxSize = try storeMaxSize(try $1.size(), key: $1.key) }) {
            .size($0.storeMaxSize)
        },
        Setting("store.raw_retention", "How long the finest tier of channel history is kept (an older name for the first tier's retention).", flag: "--raw-retention",
                read: { try $0.setFinestRetention(try $1.duration(), key: $1.key) }) { _ in nil },
        Setting("store.rollup_retention", "How long the coarsest tier, state changes, alerts and gaps are kept (an older name for the last tier's retention).",
                flag: "--rollup-retention", read: { try $0.setCoarsestRetention(try $1.duration(), key: $1.key) }) { _ in nil },
    ]

    /// What `--print-config` shows instead of a secret.
    static let maskedSecret = "********"

    /// The names allowed directly under `path` in the file (`relay` → `enabled`, `tls`…; the
    /// top level for ""), or in the items of a list of mappings, or in a mapping inside them.
    static func allowedKeys(under path: String) -> Set<String> {
        let parts = path.split(separator: ".").map(String.init)
        if let listIndex = parts.firstIndex(where: { $0.hasSuffix("[]") }) {
            let listKey = parts[...listIndex].joined(separator: ".").dropLast(2)
            guard let setting = settings.first(where: { $0.key == listKey }) else { return [] }
            var fields = setting.fields
            for part in parts[(listIndex + 1)...] { fields = fields.first { $0.name == part }?.fields ?? [] }
            return Set(fields.map(\.name))
        }
        let prefix = path.isEmpty ? "" : path + "."
        return Set(settings.compactMap { setting in
            guard setting.key.hasPrefix(prefix) else { return nil }
            return setting.key.dropFirst(prefix.count).split(separator: ".").first.map(String.init)
        })
    }
}

extension ContractSource {
    var settingValue: SettingValue {
        switch self {
        case .schemas(let setting): setting.settingValue
        case .asyncAPI(let path): .mapping([.init("asyncapi", .text(path))])
        }
    }
}

extension ContractSetting {
    var settingValue: SettingValue {
        var entries: [SettingValue.Entry] = [.init("channels", .text(channels)), .init("format", .text(format.rawValue))]
        let named: [(String, String?)] = [("id", fields.id), ("source", fields.source), ("sequence", fields.sequence),
                                          ("type", fields.type), ("version", fields.version)]
        let fieldEntries = named.compactMap { name, field in field.map { SettingValue.Entry(name, .text($0)) } }
        if !fieldEntries.isEmpty { entries.append(.init("fields", .mapping(fieldEntries))) }
        if !schemaFiles.isEmpty {
            entries.append(.init("schemas", .mapping(schemaFiles.keys.sorted().map { .init($0, .text(schemaFiles[$0]!)) })))
        }
        if requireSchema { entries.append(.init("require_schema", .bool(true))) }
        if sequence { entries.append(.init("sequence", .bool(true))) }
        if let duplicates { entries.append(.init("duplicates", .duration(duplicates))) }
        return .mapping(entries)
    }
}

extension RedisURL {
    /// The URL with its password masked, for `--print-config`.
    var maskedDescription: String {
        guard user != nil || password != nil else { return description }
        let scheme = tls == nil ? "redis://" : "rediss://"
        let credentials = (user ?? "") + (password == nil ? "" : ":" + ServeConfiguration.maskedSecret)
        return scheme + credentials + "@" + seeds.map(\.description).joined(separator: ",")
    }
}

extension ChannelGrouping.Rule {
    /// `--channel-group PATTERN[=LABEL]` as the file writes a group.
    static func fileForm(flag text: String) -> Any {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        return parts.count > 1 ? ["pattern": parts[0], "label": parts[1]] : ["pattern": parts[0]]
    }
}
