/// Every command the relay runs, one case each: dispatch switches over it exhaustively, so a
/// command added here without an implementation does not compile. Subcommands are cases of
/// their own, named `container|sub` as Redis's COMMAND reports them.
enum RelayCommand: String, CaseIterable, Sendable {
    // Pub/sub (RelayCore+PubSubCommands.swift).
    case subscribe, unsubscribe, psubscribe, punsubscribe, ssubscribe, sunsubscribe, publish, spublish
    case pubsubChannels = "pubsub|channels"
    case pubsubNumsub = "pubsub|numsub"
    case pubsubNumpat = "pubsub|numpat"
    case pubsubShardchannels = "pubsub|shardchannels"
    case pubsubShardnumsub = "pubsub|shardnumsub"
    case pubsubHelp = "pubsub|help"
    // Connection (RelayCore+ConnectionCommands.swift).
    case ping, echo, quit, reset, hello, auth, select
    case clientID = "client|id"
    case clientSetname = "client|setname"
    case clientGetname = "client|getname"
    case clientList = "client|list"
    case clientInfo = "client|info"
    case clientSetinfo = "client|setinfo"
    case clientReply = "client|reply"
    case clientKill = "client|kill"
    case clientHelp = "client|help"
    case aclWhoami = "acl|whoami"
    case aclHelp = "acl|help"
    // Server and introspection (RelayCore+ServerCommands.swift).
    case flushall, flushdb, info, command
    case commandCount = "command|count"
    case commandDocs = "command|docs"
    case commandInfo = "command|info"
    case commandList = "command|list"
    case commandHelp = "command|help"
    case configGet = "config|get"
    case configResetstat = "config|resetstat"
    case configHelp = "config|help"
    // What test tooling sends to reset a server (a relay holds no keys, scripts or functions).
    case scriptFlush = "script|flush"
    case scriptHelp = "script|help"
    case functionFlush = "function|flush"
    case functionHelp = "function|help"

    /// Lower-case name; for subcommands the full `container|sub` form.
    var name: String { rawValue }

    /// The container of a subcommand (`pubsub` for `pubsub|channels`); nil for a top-level command.
    var container: String? {
        rawValue.firstIndex(of: "|").map { String(rawValue[..<$0]) }
    }

    /// Arity, flags and ACL categories, as Redis 7.2's COMMAND reports them.
    var spec: RelayCommandSpec {
        let pubsub = ["pubsub", "noscript", "loading", "stale"]
        let connection = ["noscript", "loading", "stale", "fast"]
        let beforeAuth = ["noscript", "loading", "stale", "fast", "no_auth"]
        let introspection = ["loading", "stale"]
        let admin = ["admin", "noscript", "loading", "stale"]
        switch self {
        case .subscribe, .psubscribe, .ssubscribe: return spec(-2, pubsub, ["@pubsub", "@slow"])
        case .unsubscribe, .punsubscribe, .sunsubscribe: return spec(-1, pubsub, ["@pubsub", "@slow"])
        case .publish, .spublish: return spec(3, ["pubsub", "loading", "stale", "fast"], ["@pubsub", "@fast"])
        case .pubsubChannels, .pubsubNumsub, .pubsubShardchannels, .pubsubShardnumsub:
            return spec(-2, ["pubsub", "loading", "stale"], ["@pubsub", "@slow"])
        case .pubsubNumpat: return spec(2, ["pubsub", "loading", "stale"], ["@pubsub", "@slow"])
        case .pubsubHelp: return spec(2, introspection, ["@slow"])
        case .ping: return spec(-1, ["fast"], ["@fast", "@connection"])
        case .echo: return spec(2, connection, ["@fast", "@connection"])
        case .quit: return spec(-1, ["allow_busy"] + beforeAuth, ["@fast", "@connection"])
        case .reset: return spec(1, beforeAuth, ["@fast", "@connection"])
        case .hello: return spec(-1, beforeAuth, ["@fast", "@connection"])
        case .auth: return spec(-2, beforeAuth, ["@fast", "@connection"])
        case .select: return spec(2, connection, ["@fast", "@connection"])
        case .clientID, .clientGetname, .clientInfo: return spec(2, connection, ["@slow", "@connection"])
        case .clientSetname, .clientReply: return spec(3, connection, ["@slow", "@connection"])
        case .clientSetinfo: return spec(4, connection, ["@slow", "@connection"])
        case .clientList: return spec(-2, admin, ["@admin", "@slow", "@dangerous", "@connection"])
        case .clientKill: return spec(-3, admin, ["@admin", "@slow", "@dangerous", "@connection"])
        case .clientHelp: return spec(2, introspection, ["@slow", "@connection"])
        case .aclWhoami, .aclHelp: return spec(2, ["noscript", "loading", "stale", "sentinel"], ["@slow"])
        case .flushall, .flushdb: return spec(-1, ["write"], ["@keyspace", "@write", "@slow", "@dangerous"])
        case .info: return spec(-1, introspection, ["@slow", "@dangerous"])
        case .command: return spec(-1, introspection, ["@slow", "@connection"])
        case .commandCount, .commandHelp: return spec(2, introspection, ["@slow", "@connection"])
        case .commandDocs, .commandInfo, .commandList: return spec(-2, introspection, ["@slow", "@connection"])
        case .configGet: return spec(-3, admin, ["@admin", "@slow", "@dangerous"])
        case .configResetstat: return spec(2, admin, ["@admin", "@slow", "@dangerous"])
        case .configHelp, .scriptHelp, .functionHelp: return spec(2, introspection, ["@slow"])
        case .scriptFlush: return spec(-2, ["noscript"], ["@slow", "@scripting"])
        case .functionFlush: return spec(-2, ["write", "noscript"], ["@write", "@slow", "@scripting"])
        }
    }

    private func spec(_ arity: Int, _ flags: [String], _ categories: [String]) -> RelayCommandSpec {
        RelayCommandSpec(name: rawValue, arity: arity, flags: flags, categories: categories)
    }

    /// Allowed before authentication (the `no_auth` flag); looked up, not rebuilt, per request.
    var allowedWithoutAuth: Bool { Self.withoutAuth.contains(self) }

    private static let withoutAuth = Set(allCases.filter { $0.spec.allowedWithoutAuth })

    /// Allowed for a RESP2 client that has subscriptions.
    var allowedWhenSubscribed: Bool {
        switch self {
        case .subscribe, .unsubscribe, .psubscribe, .punsubscribe, .ssubscribe, .sunsubscribe, .ping, .quit, .reset: true
        default: false
        }
    }
}

/// A command as COMMAND reports it and as dispatch checks it.
struct RelayCommandSpec: Sendable, Hashable {
    /// Lower-case name; for subcommands the full `container|sub` form.
    let name: String
    /// Redis arity: N exactly, or -N for at least N (the command name counts).
    let arity: Int
    let flags: [String]
    let categories: [String]
    var subcommands: [RelayCommandSpec] = []

    /// Allowed before authentication.
    var allowedWithoutAuth: Bool { flags.contains("no_auth") }

    func accepts(argumentCount: Int) -> Bool {
        arity >= 0 ? argumentCount == arity : argumentCount >= -arity
    }
}

/// Why a request names no command the relay can run, in Redis's words.
enum RelayCommandLookupError: Error, Hashable {
    case unknownCommand
    case unknownSubcommand(container: String)
    case wrongArity(String)
}

/// The relay's commands by name: top-level commands, and the containers (PUBSUB, CLIENT,
/// COMMAND, CONFIG) with their subcommands and the help text each prints.
enum RelayCommandTable {
    /// A container's own entry: its arity and flags (Redis's), and its HELP text.
    private struct Container {
        let arity: Int
        let flags: [String]
        let categories: [String]
        let help: [String]
    }

    private static let containers: [String: Container] = [
        "pubsub": Container(arity: -2, flags: [], categories: ["@slow"], help: [
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
            "HELP",
            "    Prints this help.",
        ]),
        "client": Container(arity: -2, flags: [], categories: ["@slow"], help: [
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME", "    Return the name of the current connection.",
            "ID", "    Return the ID of the current connection.",
            "INFO", "    Return information about the current client connection.",
            "KILL <ip:port>", "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, SKIPME.",
            "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [...]]", "    Return information about client connections.",
            "REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection.",
            "SETNAME <name>", "    Assign the name <name> to the current connection.",
            "SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client meta attributes.",
            "HELP", "    Prints this help.",
        ]),
        "acl": Container(arity: -2, flags: [], categories: ["@slow"], help: [
            "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "WHOAMI", "    Return the current connection username.",
            "HELP", "    Prints this help.",
        ]),
        "command": Container(arity: -1, flags: ["loading", "stale"], categories: ["@slow", "@connection"], help: [
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)", "    Return details about all commands.",
            "COUNT", "    Return the total number of commands.",
            "DOCS [<command-name> ...]", "    Return documentation details (none on this server).",
            "INFO [<command-name> ...]", "    Return details about the given commands.",
            "LIST", "    Return a list of all commands.",
            "HELP", "    Prints this help.",
        ]),
        "config": Container(arity: -2, flags: [], categories: ["@slow"], help: [
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern> [<pattern> ...]", "    Return parameters matching the glob-like <pattern>s and their values.",
            "RESETSTAT", "    Reset statistics reported by the INFO command.",
            "HELP", "    Prints this help.",
        ]),
        "script": Container(arity: -2, flags: [], categories: ["@slow"], help: [
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "FLUSH [ASYNC|SYNC]", "    Flush the Lua scripts cache (a relay holds none).",
            "HELP", "    Prints this help.",
        ]),
        "function": Container(arity: -2, flags: [], categories: ["@slow"], help: [
            "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "FLUSH [ASYNC|SYNC]", "    Delete all the libraries (a relay holds none).",
            "HELP", "    Prints this help.",
        ]),
    ]

    /// Subcommands by container, then by full name.
    private static let subcommands: [String: [String: RelayCommand]] = {
        var table: [String: [String: RelayCommand]] = [:]
        for command in RelayCommand.allCases {
            guard let container = command.container else { continue }
            precondition(containers[container] != nil, "\(command) belongs to no container")
            table[container, default: [:]][command.rawValue] = command
        }
        return table
    }()

    /// Every top-level entry as COMMAND lists it, containers with their subcommands.
    static let specs: [String: RelayCommandSpec] = {
        var specs: [String: RelayCommandSpec] = [:]
        for command in RelayCommand.allCases where command.container == nil { specs[command.rawValue] = command.spec }
        for (name, container) in containers {
            specs[name] = RelayCommandSpec(
                name: name, arity: container.arity, flags: container.flags, categories: container.categories,
                subcommands: (subcommands[name] ?? [:]).values.map(\.spec).sorted { $0.name < $1.name })
        }
        return specs
    }()

    /// The command that `name` (lower case) and, for a container, `subcommand` (lower case)
    /// select, checked against the arity; `argumentCount` counts the name.
    static func resolve(name: String, subcommand: String?, argumentCount: Int) -> Result<RelayCommand, RelayCommandLookupError> {
        let container = containers[name]
        let command: RelayCommand?
        if container != nil, let subcommand, argumentCount >= 2 {
            guard let found = subcommands[name]?["\(name)|\(subcommand)"] else { return .failure(.unknownSubcommand(container: name)) }
            command = found
        } else {
            command = RelayCommand(rawValue: name).flatMap { $0.container == nil ? $0 : nil }
        }
        guard let command else {
            // A container named alone (PUBSUB with no subcommand) fails its arity, as in Redis.
            return container != nil ? .failure(.wrongArity(name)) : .failure(.unknownCommand)
        }
        guard command.spec.accepts(argumentCount: argumentCount) else { return .failure(.wrongArity(command.rawValue)) }
        return .success(command)
    }

    /// A container's HELP reply lines.
    static func help(for container: String) -> [String] {
        containers[container]?.help ?? []
    }
}
