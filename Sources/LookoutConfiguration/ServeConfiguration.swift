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
    /// Whether payload shapes are inferred on channels without a contract.
    public var inferShapes = false
    /// Channel consumers publish heartbeats on.
    public var heartbeatChannel = OwnChannels.heartbeat
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
    public var alertChannel: String? = OwnChannels.alerts
    /// The HA group this instance notifies for (`ha.group`); nil: on its own, it always notifies.
    public var haGroup: String?
    /// Seconds the group's lease holds without renewal.
    public var haLease: Double = 10
    /// This instance's name in its group; nil: the host name and the process id.
    public var haInstance: String?
    /// Globs of the Redis Streams keys watched (`streams.match`); empty: none (opt-in).
    public var streamsMatch: [String] = []
    /// Seconds between two polls of the watched streams.
    public var streamsInterval: Double = 5
    /// Streams watched at most.
    public var streamsMax = 1_000
    /// Deliveries from which a pending stream entry is poison.
    public var streamsPoisonDeliveries = 5
    /// Seconds a stream consumer holding pending entries may stay idle before it is dead.
    public var streamsDeadAfter: Double = 300
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
    /// Event contracts, each for the channels its glob matches, or AsyncAPI documents (files not read yet).
    public var contracts: [ContractSource] = []

    /// The relay's TLS listener as given, part by part (``relay``'s `tls` once put together).
    var relayTLSParts = RelayTLSParts()
    /// Where each setting given came from: its key in the file or its flag.
    var origins: [String: String] = [:]

    public init() {}

    /// Lookout's own channels (heartbeats, probes, alerts): the monitor is their receiver, so
    /// they are never reported as consumer-less nor counted as unrouted.
    public var ownChannels: Set<String> {
        Set([heartbeatChannel, OwnChannels.probe] + (alertChannel.map { [$0] } ?? []))
    }

    /// The old retention settings: `raw_retention` is the finest tier's.
    mutating func setFinestRetention(_ seconds: Double, key: String) throws(ConfigurationError) {
        storeTiers = try Self.storeTiers(key: key) { () throws(StoreTiers.Invalid) in try storeTiers.withFinestRetention(seconds) }
    }

    /// `rollup_retention` is the coarsest tier's and the events'.
    mutating func setCoarsestRetention(_ seconds: Double, key: String) throws(ConfigurationError) {
        storeTiers = try Self.storeTiers(key: key) { () throws(StoreTiers.Invalid) in try storeTiers.withCoarsestRetention(seconds) }
        eventRetention = seconds
    }

    /// A group name goes into Redis keys as their hash tag: letters, digits, `.`, `_`, `-`.
    static func haGroup(_ name: String, key: String) throws(ConfigurationError) -> String {
        guard !name.isEmpty, name.utf8.count <= 64,
              name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) })
        else { throw ConfigurationError(key: key, reason: "'\(name)' is not a group name: 1 to 64 letters, digits, '.', '_' or '-'") }
        return name
    }

    /// A lease shorter than a second would be renewed faster than a Redis round trip can be trusted.
    static func haLease(_ seconds: Double, key: String) throws(ConfigurationError) -> Double {
        guard seconds >= 1 else { throw ConfigurationError(key: key, reason: "must be 1s or more") }
        return seconds
    }

    static func storeTiers(key: String, _ body: () throws(StoreTiers.Invalid) -> StoreTiers) throws(ConfigurationError) -> StoreTiers {
        do { return try body() } catch { throw ConfigurationError(key: key, reason: error.description) }
    }

    /// A budget small enough to be a mistake is refused: 16 MiB at least.
    static func storeMaxSize(_ bytes: Int, key: String) throws(ConfigurationError) -> Int {
        guard bytes >= 16 << 20 else { throw ConfigurationError(key: key, reason: "must be at least 16mb") }
        return bytes
    }
}

/// The relay's TLS listener as the file and the flags give it, before it is checked whole.
struct RelayTLSParts: Sendable, Equatable {
    var host: String?
    var port: Int?
    var certificatePath: String?
    var keyPath: String?
    var caPath: String?
    var clientAuthentication: RelayTLS.ClientAuthentication?
    var only: Bool?

    var address: (String, Int)? {
        get { host.flatMap { host in port.map { (host, $0) } } }
        set { (host, port) = (newValue?.0, newValue?.1) }
    }
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

/// One `contracts:` entry: a contract written for Lookout, or an AsyncAPI document whose
/// channels are contracts.
public enum ContractSource: Sendable, Hashable {
    case schemas(ContractSetting)
    /// The document's path (relative to the configuration file until resolved).
    case asyncAPI(String)

    /// The contract written for Lookout, if this is one.
    public var setting: ContractSetting? {
        if case .schemas(let setting) = self { return setting }
        return nil
    }
}

/// One `contracts:` entry written for Lookout: the checks, and the schema files (read at start).
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
