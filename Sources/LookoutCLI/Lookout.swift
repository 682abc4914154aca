import ArgumentParser
import Relay

#if canImport(Glibc)
import Glibc
#endif

/// The `lookout` command: the server (`serve`) and, as the project grows, the query commands.
@main
struct Lookout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookout",
        abstract: "Health sidecar for Redis pub/sub: an embedded relay, per-channel metrics and consumer heartbeats.",
        version: LookoutVersion.current,
        subcommands: [Serve.self, HeartbeatCommand.self],
        defaultSubcommand: Serve.self
    )

    /// Exit status for an invalid flag or configuration value.
    static let invalidConfigurationStatus: Int32 = 2

    /// Runs the chosen subcommand; a rejected flag exits with status 2 (not ArgumentParser's 64),
    /// with the message that names the flag and the reason.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                let message = fullMessage(for: error) + "\n"
                _ = message.withCString { Glibc.write(2, $0, strlen($0)) }
                Glibc.exit(invalidConfigurationStatus)
            }
            exit(withError: error)
        }
    }
}
