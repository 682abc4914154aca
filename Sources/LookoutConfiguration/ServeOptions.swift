import ArgumentParser
import Foundation
import Glob
import LookoutCore
import RESP
import Relay

/// `lookout serve`'s flags, as an ArgumentParser group: the flags about the run are declared
/// here; every flag that sets a setting is the table's (``ServeConfiguration/settings``), taken
/// as given and read by the setting itself, so that the same settings can come from a file, the
/// flags and the environment, and be resolved by one pure function,
/// ``ServeConfiguration/resolve(file:options:environment:)``. Tests parse the same flags.
public struct ServeOptions: ParsableArguments, Sendable {
    @Option(help: "YAML configuration file; flags override it.")
    public var config: String?

    @Flag(help: "Run synthetic publishers and consumers on the embedded relay (one consumer dies and returns every 90 s), to see every panel and alert move.")
    public var demo = false

    @Flag(name: .customLong("bench-unobserved"), help: ArgumentHelp("Run the relay with no observer (benchmarks: the cost of watching).", visibility: .hidden))
    public var benchUnobserved = false

    @Flag(name: .customLong("no-db"), help: "Record no history.")
    public var noDB = false

    /// The flags of the table's settings, as given (read by ``ServeConfiguration/resolve(file:options:environment:)``).
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The settings' flags (see SETTINGS).", visibility: .hidden))
    public var settingFlags: [String] = []

    public init() {}

    /// Reads the configuration file named by `--config`, then resolves it with these flags and
    /// `environment`.
    /// - Throws: ``ConfigurationError`` naming the file, key or flag.
    public func resolve(environment: [String: String]) throws(ConfigurationError) -> ServeConfiguration {
        var file: (path: String, text: String)?
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ConfigurationError(key: "--config", reason: "cannot read '\(config)'")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError(key: "--config", reason: "'\(config)' is not UTF-8 text")
            }
            file = (config, text)
        }
        return try ServeConfiguration.resolve(file: file, options: self, environment: environment)
    }
}

extension ServeConfiguration {
    /// Environment variables read as fallbacks for secrets kept out of files and flags.
    public enum EnvironmentKey {
        /// The relay's password (requirepass) when neither the file nor `--relay-password` sets one.
        public static let relayPassword = "LOOKOUT_RELAY_PASSWORD"
        /// The password of every Redis URL that carries none.
        public static let redisPassword = "LOOKOUT_REDIS_PASSWORD"
    }

    /// The settings `lookout serve` runs with: the configuration file's text (if any), then the
    /// flags on top, then the environment's password fallbacks; the rules that span several
    /// settings are checked last. Pure: reading the file and the environment is the caller's job.
    ///
    /// - Parameters:
    ///   - file: the YAML document and its path (the path only names it in errors).
    ///   - options: the flags given.
    ///   - environment: the process environment (only ``EnvironmentKey`` is read).
    /// - Throws: ``ConfigurationError`` whose key is the file's key path (prefixed with the
    ///   file's path) or the flag (`--max-clients`).
    public static func resolve(
        file: (path: String, text: String)? = nil,
        options flags: ServeOptions = .init(),
        environment: [String: String] = [:]
    ) throws(ConfigurationError) -> ServeConfiguration {
        var settings = ServeConfiguration()
        if let file {
            do {
                try settings.read(yaml: file.text)
            } catch {
                throw ConfigurationError(key: "\(file.path): \(error.key)", reason: error.reason)
            }
            // Schema files and AsyncAPI documents are named relative to the configuration file.
            let directory = (file.path as NSString).deletingLastPathComponent
            func resolved(_ path: String) -> String { path.hasPrefix("/") || directory.isEmpty ? path : directory + "/" + path }
            settings.contracts = settings.contracts.map { source in
                switch source {
                case .schemas(var setting):
                    setting.schemaFiles = setting.schemaFiles.mapValues(resolved)
                    return .schemas(setting)
                case .asyncAPI(let path): return .asyncAPI(resolved(path))
                }
            }
        }
        let given = try settingFlags(flags.settingFlags)
        for setting in Self.settings {
            guard let flag = setting.flag, let texts = given[flag] else { continue }
            let value: Any = setting.flagSets ?? (setting.isList ? texts.map(setting.flagValue) : setting.flagValue(texts.last!))
            do {
                try settings.apply(setting, Node(value, key: flag))
            } catch {
                throw ConfigurationError(key: flag, reason: error.reason)
            }
        }
        if flags.noDB { settings.storePath = nil }
        if flags.demo { settings.demo = true }
        if flags.benchUnobserved { settings.observeRelay = false }
        try settings.assemble()
        if settings.relay.password == nil && settings.relay.users.isEmpty {
            settings.relay.password = environment[EnvironmentKey.relayPassword]
        }
        if let password = environment[EnvironmentKey.redisPassword] {
            for index in settings.redis.indices where settings.redis[index].password == nil {
                settings.redis[index].password = password
            }
        }

        if settings.demo && !settings.relayEnabled {
            throw ConfigurationError(key: "--demo", reason: "needs the embedded relay (drop --no-relay)")
        }
        if !settings.relayEnabled && settings.redis.isEmpty {
            throw ConfigurationError(key: settings.origin("relay.enabled"), reason: "nothing to watch; give at least one --redis URL")
        }
        if settings.haGroup != nil && (settings.relayEnabled || settings.redis.isEmpty) {
            throw ConfigurationError(key: settings.origin("ha.group"), reason: "a pair watches one Redis and keeps its lease there: run it with --no-relay and --redis")
        }
        if settings.haGroup == nil && settings.haInstance != nil {
            throw ConfigurationError(key: settings.origin("ha.instance"), reason: "names this instance in an HA group: give --ha-group too")
        }
        if !settings.streamsMatch.isEmpty && settings.redis.isEmpty {
            throw ConfigurationError(key: settings.origin("streams.match"), reason: "streams are read from Redis: give a --redis URL (the relay has no streams)")
        }
        if settings.redisWatch != nil && settings.redis.isEmpty {
            throw ConfigurationError(key: settings.origin("redis.watch"), reason: "watches Redis sources; give a --redis URL (the relay sees every channel)")
        }
        if settings.relayEnabled, let exposure = settings.relay.unprotectedExposure {
            throw ConfigurationError(key: "protected mode", reason: exposure)
        }
        return settings
    }

    /// The settings' flags given, by flag: each value in order (an empty text for a flag that
    /// takes none). `--flag value` and `--flag=value` are both taken.
    static func settingFlags(_ arguments: [String]) throws(ConfigurationError) -> [String: [String]] {
        var given: [String: [String]] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--") else {
                throw ConfigurationError(key: argument, reason: "unexpected argument: lookout serve takes flags only (lookout serve --help lists them)")
            }
            let equals = argument.firstIndex(of: "=")
            let flag = String(argument[..<(equals ?? argument.endIndex)])
            guard let setting = settingsByFlag[flag] else {
                throw ConfigurationError(key: flag, reason: "unknown flag (lookout serve --help lists them)")
            }
            if setting.flagSets != nil {
                guard equals == nil else { throw ConfigurationError(key: flag, reason: "takes no value") }
                given[flag, default: []].append("")
            } else if let equals {
                given[flag, default: []].append(String(argument[argument.index(after: equals)...]))
            } else {
                guard index < arguments.count else { throw ConfigurationError(key: flag, reason: "needs a value") }
                given[flag, default: []].append(arguments[index])
                index += 1
            }
        }
        return given
    }

    private static let settingsByFlag = Dictionary(uniqueKeysWithValues: settings.compactMap { setting in setting.flag.map { ($0, setting) } })
}

extension ServeOptions {
    /// The settings' flags for `lookout serve --help`, each with its help from the table, wrapped
    /// to 80 columns (ArgumentParser would wrap longer lines without their indent).
    public static var flagsHelp: String {
        var lines = wrapped("SETTINGS (each also a key of the --config file; a flag wins over the file, a repeated flag adds to its list):", indent: "")
        for setting in ServeConfiguration.settings {
            guard let flag = setting.flag else { continue }
            lines.append("  " + flag + (setting.flagSets == nil ? " <\(setting.name.replacingOccurrences(of: "_", with: "-"))>" : ""))
            lines += wrapped(setting.flagHelp, indent: "        ")
        }
        return lines.joined(separator: "\n")
    }

    private static func wrapped(_ text: String, indent: String, width: Int = 79) -> [String] {
        var lines: [String] = []
        var line = indent
        for word in text.split(separator: " ") {
            if line.count > indent.count && line.count + 1 + word.count > width {
                lines.append(line)
                line = indent
            }
            line += (line.count > indent.count ? " " : "") + word
        }
        return lines + [line]
    }
}
