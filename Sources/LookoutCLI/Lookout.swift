import ArgumentParser
import Relay

/// The `lookout` command: the server (`serve`) and, as the project grows, the query commands.
@main
struct Lookout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookout",
        abstract: "Health sidecar for Redis pub/sub: an embedded relay, per-channel metrics and consumer heartbeats.",
        version: LookoutVersion.current,
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}
