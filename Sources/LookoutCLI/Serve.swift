import ArgumentParser
import Foundation
import Logging
import LookoutApplication
import LookoutConfiguration
import ServiceLifecycle
import UnixSignals

/// `lookout serve`: the relay, the monitor and the HTTP server, until SIGINT or SIGTERM.
///
/// Settings come from `--config FILE` (YAML, see ``ServeConfiguration``); a flag given on the
/// command line wins over the file.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Lookout: the embedded pub/sub relay, the channel monitor and the metrics server.",
        discussion: ServeOptions.flagsHelp
    )

    @OptionGroup var options: ServeOptions

    @Flag(help: "Print the configuration as resolved from the file, the flags and the environment (secrets masked), and exit.")
    var printConfig = false

    func validate() throws {
        _ = try resolve()
    }

    private func resolve() throws -> ServeConfiguration {
        do {
            return try options.resolve(environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let settings = try resolve()
        if printConfig {
            print(ConfigurationDocument(settings).render(), terminator: "")
            return
        }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "lookout")
        let application: LookoutApplication
        do {
            application = try LookoutApplication(configuration: settings, logger: logger, commit: BuildCommit.value,
                                                 systemd: SystemdNotifier(environment: ProcessInfo.processInfo.environment))
        } catch {
            throw CommandFailure("\(error)", status: Lookout.invalidConfigurationStatus)
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: application)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.error("lookout serve failed", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}
