import ArgumentParser
import LookoutCore

#if canImport(Glibc)
import Glibc
#endif

/// The `lookout` command: the server (`serve`), the history queries (`channels`, `history`,
/// `consumers`, `alerts`), the live view (`top`), `heartbeat` and `config` (example, check).
@main
struct Lookout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookout",
        abstract: "Health sidecar for Redis pub/sub: an embedded relay, per-channel metrics and consumer heartbeats.",
        version: "\(LookoutVersion.current) (commit \(BuildCommit.value), Swift \(LookoutVersion.swift))",
        subcommands: [Serve.self, ChannelsCommand.self, HistoryCommand.self, ConsumersCommand.self, AlertsCommand.self, ViolationsCommand.self, StreamsCommand.self, TopCommand.self,
                      HeartbeatCommand.self, ConfigCommand.self, ContractsCommand.self],
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
        } catch let failure as CommandFailure {
            let message = "lookout: \(failure.message)\n"
            _ = message.withCString { Glibc.write(2, $0, strlen($0)) }
            Glibc.exit(failure.status)
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

/// A command that cannot do what was asked: one line on standard error, then `status`.
struct CommandFailure: Error {
    var message: String
    var status: Int32

    init(_ message: String, status: Int32 = 1) {
        self.message = message
        self.status = status
    }
}
