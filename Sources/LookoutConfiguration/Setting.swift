import LookoutCore
import PubSubCore
import RESP
import Relay

/// One setting of `lookout serve`: its key in the configuration file, what it is for, the flag
/// and environment variable that set it too, how a value is read into a configuration and how a
/// resolved configuration shows it. The table of them, ``ServeConfiguration/settings``, is the one
/// declaration the file's keys, `serve`'s flags and their help, `lookout config example`,
/// `--print-config` and the README's configuration reference all come from: adding a setting is
/// one entry there and the field it fills.
public struct Setting: Sendable {
    /// The key's path in the file, such as `relay.max_clients`.
    public let key: String
    /// What the setting does, in a sentence or two.
    public let summary: String
    /// The flag of `lookout serve` that sets it too, such as `--max-clients`.
    public let flag: String?
    /// What giving the flag alone sets, for a flag that takes no value (`--no-relay`: false).
    let flagSets: Bool?
    /// What only the flag's help has to say (how its value is written on the command line).
    let flagNote: String?
    /// A flag's text as the file would hold the value (`--channel-group P=L`: a mapping).
    let flagValue: @Sendable (String) -> Any
    public let environment: String?
    /// Written as `********` by `--print-config` (a password).
    public let secret: Bool
    /// Shown, commented out, where the setting has no value by default.
    public let example: String?
    /// The keys of each item, for a list of mappings (`relay.users`, `contracts`).
    public let fields: [Field]
    /// Reads a value, from the file or a flag, into a configuration; a problem is thrown as a
    /// ``ConfigurationError`` keyed by the node's key.
    let read: @Sendable (inout ServeConfiguration, Node) throws -> Void
    /// The setting's value in `configuration`, as YAML; nil when it is not set.
    public let value: @Sendable (ServeConfiguration) -> SettingValue?

    /// A key of the items of a list of mappings, or of a mapping inside them.
    public struct Field: Sendable {
        public let name: String
        public let summary: String
        public let fields: [Field]

        public init(_ name: String, _ summary: String, fields: [Field] = []) {
            self.name = name
            self.summary = summary
            self.fields = fields
        }
    }

    init(_ key: String, _ summary: String, flag: String? = nil, flagSets: Bool? = nil, flagNote: String? = nil,
         flagValue: @escaping @Sendable (String) -> Any = { $0 }, environment: String? = nil, secret: Bool = false,
         example: String? = nil, fields: [Field] = [], read: @escaping @Sendable (inout ServeConfiguration, Node) throws -> Void,
         value: @escaping @Sendable (ServeConfiguration) -> SettingValue?) {
        self.key = key
        self.summary = summary
        self.flag = flag
        self.flagSets = flagSets
        self.flagNote = flagNote
        self.flagValue = flagValue
        self.environment = environment
        self.secret = secret
        self.example = example
        self.fields = fields
        self.read = read
        self.value = value
    }

    /// Whether the setting is a list (its flag can be given several times, each adding an item).
    public var isList: Bool {
        if case .list = value(ServeConfiguration()) { return true }
        return !fields.isEmpty || example.map { $0.hasPrefix("[") || $0.hasPrefix("- ") } ?? false
    }

    /// The key's last part (`max_clients`).
    public var name: Substring { key.split(separator: ".").last ?? Substring(key) }

    /// The flag's help: what the setting does, what only the flag has to say, its key in the
    /// file, its default and its environment variable.
    public var flagHelp: String {
        var notes = ["\(key) in the file"]
        if isList { notes[0] = "repeatable; " + notes[0] }
        if let value = value(ServeConfiguration()), let shown = ConfigurationDocument.plainText(value) { notes.append("default \(shown)") }
        if let environment { notes.append("also \(environment)") }
        if let flagSets { notes.append("the flag alone sets \(flagSets)") }
        return summary + (flagNote.map { " " + $0 } ?? "") + " (" + notes.joined(separator: "; ") + ")"
    }
}

/// A value as the configuration file writes it.
public indirect enum SettingValue: Sendable, Equatable {
    /// Written as it is: a number, true/false, a duration such as `5s`, a size such as `1gb`.
    case plain(String)
    /// A string, always quoted.
    case text(String)
    case list([SettingValue])
    case mapping([Entry])

    /// A key and its value in a mapping.
    public struct Entry: Sendable, Equatable {
        public let key: String
        public let value: SettingValue

        public init(_ key: String, _ value: SettingValue) {
            self.key = key
            self.value = value
        }
    }

    static func bool(_ flag: Bool) -> SettingValue { .plain(flag ? "true" : "false") }
    static func number(_ number: Int) -> SettingValue { .plain(String(number)) }
    static func number(_ number: Double) -> SettingValue {
        .plain(number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number))
    }
    static func texts(_ items: [String]) -> SettingValue { .list(items.map { .text($0) }) }

    static func duration(_ seconds: Double) -> SettingValue { .plain(DurationText.text(seconds: seconds)) }

    static func size(_ bytes: Int) -> SettingValue { .plain(sizeText(bytes)) }

    /// Bytes in the largest binary unit that writes them whole: `512mb`, `1gb`.
    static func sizeText(_ bytes: Int) -> String {
        for (unit, size) in [("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10)] where bytes % size == 0 && bytes > 0 {
            return "\(bytes / size)\(unit)"
        }
        return "\(bytes)b"
    }

    static func address(_ host: String, _ port: Int) -> SettingValue {
        .text(host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
    }
}
