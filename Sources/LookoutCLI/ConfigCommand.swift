import ArgumentParser
import Foundation
import LookoutApplication
import LookoutConfiguration
import LookoutCore
import Relay

/// `lookout config`: the configuration file, first-class: an example with every key, and a check
/// that reads a file (and every file it names) as `lookout serve` would, starting nothing.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Write an example configuration file, or check one before a (re)start.",
        subcommands: [Example.self, Check.self, Reference.self]
    )

    /// `lookout config reference`: the README's configuration reference, from the same table.
    struct Reference: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the configuration reference as a Markdown table (the README's).")

        func run() throws { print(ConfigurationDocument.markdownReference(), terminator: "") }
    }

    /// `lookout config example`: every setting with its default and what it does.
    struct Example: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a commented configuration file with every key and its default (settings with no default commented out).")

        func run() throws {
            print(ConfigurationDocument(ServeConfiguration()).render(header: [
                "# Lookout's configuration (lookout serve --config FILE). Every key, at its default; a flag",
                "# given on the command line wins over the file. Written by `lookout config example` (\(LookoutVersion.current)).",
            ]), terminator: "")
        }
    }

    /// `lookout config check FILE`: exit 0 when `lookout serve --config FILE` would start, else
    /// 2 with the error it would stop with.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration file and the certificates, contracts and credentials it names, starting nothing; exit 0 or 2.")

        @Argument(help: "The YAML configuration file.")
        var file: String

        @Flag(help: "Print the configuration as resolved (defaults filled in, secrets masked).")
        var print = false

        func run() throws {
            let options = try ServeOptions.parse(["--config", file])
            let settings: ServeConfiguration
            do {
                settings = try options.resolve(environment: ProcessInfo.processInfo.environment)
            } catch {
                throw ValidationError(error.description)
            }
            let contracts: ContractSet
            do {
                contracts = try LookoutApplication.checkFiles(settings)
            } catch {
                throw CommandFailure("\(error)", status: Lookout.invalidConfigurationStatus)
            }
            if print { Swift.print(ConfigurationDocument(settings).render(), terminator: "") }
            let mode = settings.relayEnabled ? "broker (relay on \(settings.relay.host):\(settings.relay.port))" : "sidecar"
            FileHandle.standardError.write(Data("lookout: \(file) is valid: \(mode), \(settings.redis.count) Redis source(s), \(contracts.contracts.count) contract(s)\n".utf8))
        }
    }
}
