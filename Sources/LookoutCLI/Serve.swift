import ArgumentParser
import HTTPServer
import Logging
import Monitor
import PubSubCore
import RESP
import Relay
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `lookout serve`: runs the embedded relay until SIGINT or SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Lookout: the embedded pub/sub relay (and, with later modules, the monitor and HTTP server)."
    )

    @Option(name: .customLong("relay"), help: "Address the embedded relay listens on (host:port).")
    var relayAddress = "127.0.0.1:6380"

    @Flag(name: .customLong("no-relay"), help: "Do not start the embedded relay.")
    var noRelay = false

    @Option(help: "Password clients must send with AUTH (requirepass). Also read from LOOKOUT_RELAY_PASSWORD.")
    var relayPassword: String?

    @Option(help: "Most clients connected to the relay at once.")
    var maxClients = 10_000

    @Option(help: "Output buffer limit for subscribers: 'hard soft seconds', as Redis's client-output-buffer-limit pubsub.")
    var clientOutputBufferLimit = "32mb 8mb 60"

    @Option(help: "Largest bulk string a client may send (proto-max-bulk-len), e.g. 512mb.")
    var protoMaxBulkLen = "512mb"

    @Option(name: .customLong("redis"), help: "Watch a Redis: redis://[user:password@]host:port. Repeatable. The password may also come from LOOKOUT_REDIS_PASSWORD.")
    var redisURLs: [String] = []

    @Option(name: .customLong("metrics"), help: "Address of the HTTP server: /metrics, /healthz, /readyz, /api/v1 (host:port).")
    var metricsAddress = "127.0.0.1:9480"

    @Option(help: "Most distinct channels tracked as their own series; the rest count under channel=\"__other__\".")
    var maxChannels = 1000

    @Option(name: .customLong("channel-group"), help: "Count channels matching a glob under one label: PATTERN or PATTERN=LABEL. Repeatable.")
    var channelGroups: [String] = []

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard HostPort(relayAddress) != nil else {
            throw ValidationError("--relay: '\(relayAddress)' is not host:port")
        }
        guard OutputBufferPolicy.Limits(redisSyntax: clientOutputBufferLimit) != nil else {
            throw ValidationError("--client-output-buffer-limit: '\(clientOutputBufferLimit)' is not 'hard soft seconds' (e.g. 32mb 8mb 60)")
        }
        guard let bulk = OutputBufferPolicy.Limits.parseMemory(Substring(protoMaxBulkLen)), bulk > 0 else {
            throw ValidationError("--proto-max-bulk-len: '\(protoMaxBulkLen)' is not a size (e.g. 512mb)")
        }
        guard maxClients > 0 else { throw ValidationError("--max-clients must be positive") }
        guard HostPort(metricsAddress) != nil else {
            throw ValidationError("--metrics: '\(metricsAddress)' is not host:port")
        }
        guard maxChannels > 0 else { throw ValidationError("--max-channels must be positive") }
        for group in channelGroups where group.split(separator: "=", omittingEmptySubsequences: false).first?.isEmpty != false {
            throw ValidationError("--channel-group: '\(group)' has no pattern")
        }
        for url in redisURLs where RedisURL(url) == nil {
            throw ValidationError("--redis: '\(url)' is not redis://[user:password@]host[:port]")
        }
        if noRelay && redisURLs.isEmpty {
            throw ValidationError("--no-relay: nothing to watch; give at least one --redis URL")
        }
    }

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "lookout")
        let address = HostPort(relayAddress)!
        var relayConfiguration = RelayConfiguration(host: address.host, port: address.port)
        relayConfiguration.password = relayPassword ?? Environment.value("LOOKOUT_RELAY_PASSWORD")
        relayConfiguration.maxClients = maxClients
        relayConfiguration.outputBufferLimits = OutputBufferPolicy.Limits(redisSyntax: clientOutputBufferLimit)!
        relayConfiguration.requestLimits.maxBulkLength = OutputBufferPolicy.Limits.parseMemory(Substring(protoMaxBulkLen))!

        let queue = ObservationQueue()
        let metrics = MonitorMetrics(version: LookoutVersion.current)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var sources: [any MonitoredSource] = []
        if !noRelay {
            let relay = RelayServer(
                configuration: relayConfiguration, observer: RelayTap(queue: queue), logger: Logger(label: "lookout.relay"))
            sources.append(RelaySource(relay: relay))
            services.append(.init(service: relay))
        }
        for text in redisURLs {
            var url = RedisURL(text)!
            if url.password == nil { url.password = Environment.value("LOOKOUT_REDIS_PASSWORD") }
            let source = RedisSource(configuration: .init(url: url), queue: queue, metrics: metrics)
            sources.append(source)
            services.append(.init(service: source))
        }
        var monitorConfiguration = ChannelMonitor.Configuration()
        monitorConfiguration.grouping = ChannelGrouping(
            rules: channelGroups.map { group in
                let parts = group.split(separator: "=", maxSplits: 1).map(String.init)
                return ChannelGrouping.Rule(pattern: parts[0], label: parts.count > 1 ? parts[1] : nil)
            },
            maxTrackedChannels: maxChannels
        )
        let monitor = ChannelMonitor(queue: queue, metrics: metrics, sources: sources, configuration: monitorConfiguration)
        let httpAddress = HostPort(metricsAddress)!
        let http = LookoutHTTPServer.application(
            .init(metrics: metrics, monitor: monitor),
            host: httpAddress.host, port: httpAddress.port, logger: Logger(label: "lookout.http"))
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

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `host:port`, with `[v6]:port` for IPv6 addresses.
struct HostPort: Hashable {
    var host: String
    var port: Int

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}

enum Environment {
    static func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        return String(cString: raw)
    }
}
