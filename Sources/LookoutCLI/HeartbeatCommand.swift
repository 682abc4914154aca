import ArgumentParser
import Logging
import LookoutConfiguration
import LookoutCore
import LookoutHeartbeat
import ServiceLifecycle
import UnixSignals

/// `lookout heartbeat`: sends heartbeats from a shell, for scripts and demos; says goodbye on SIGINT/SIGTERM.
struct HeartbeatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heartbeat",
        abstract: "Send consumer heartbeats (contract v1) until interrupted."
    )

    @Option(help: "Consumer name.")
    var consumer: String

    @Option(help: "Consumer group.")
    var group: String?

    @Option(help: "Heartbeat interval, e.g. 500ms, 5s.")
    var interval = "5s"

    @Option(help: "Channels the consumer serves, comma-separated (globs allowed).")
    var channels: String?

    @Option(help: "Where to publish: redis://[user:password@]host:port (default: the relay on 127.0.0.1:6380).")
    var redis = "redis://127.0.0.1:6380"

    func validate() throws {
        guard DurationText.parse(interval) != nil else { throw ValidationError("--interval: '\(interval)' is not a duration such as 5s") }
        guard let url = RedisURL(redis) else { throw ValidationError("--redis: '\(redis)' is not redis://host:port") }
        guard url.tls == nil else {
            throw ValidationError("--redis: lookout heartbeat speaks plain TCP only; publish heartbeats over TLS with your Redis client")
        }
        guard !consumer.isEmpty else { throw ValidationError("--consumer: empty name") }
    }

    func run() async throws {
        let url = RedisURL(redis)!
        var settings = HeartbeatSender.Configuration(consumer: consumer)
        settings.group = group
        settings.interval = DurationText.parse(interval)!
        settings.channels = channels?.split(separator: ",").map(String.init) ?? []
        settings.host = url.host
        settings.port = url.port
        settings.password = url.password
        // A shell's beat says the process is alive, not that it processes messages.
        settings.reportsProgress = false
        let sender = HeartbeatSender(configuration: settings)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: sender)], gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "lookout")))
        try await group.run()
    }
}
