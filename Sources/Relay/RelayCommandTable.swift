/// The relay's commands as COMMAND reports them and as dispatch checks them.
struct RelayCommandSpec: Sendable {
    /// Lower-case name; for subcommands the full `container|sub` form.
    let name: String
    /// Redis arity: N exactly, or -N for at least N (the command name counts).
    let arity: Int
    let flags: [String]
    let categories: [String]
    var subcommands: [RelayCommandSpec] = []

    /// Allowed for a RESP2 client that has subscriptions.
    var allowedWhenSubscribed: Bool { Self.subscribedContextCommands.contains(name) }

    private static let subscribedContextCommands: Set<String> = [
        "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping", "quit", "reset",
    ]
    /// Allowed before authentication.
    var allowedWithoutAuth: Bool { flags.contains("no_auth") }

    func accepts(argumentCount: Int) -> Bool {
        arity >= 0 ? argumentCount == arity : argumentCount >= -arity
    }
}

extension RelayCommandSpec {
    private static func spec(_ name: String, _ arity: Int, _ flags: [String], _ categories: [String], _ subcommands: [RelayCommandSpec] = []) -> Self {
        RelayCommandSpec(name: name, arity: arity, flags: flags, categories: categories, subcommands: subcommands)
    }

    private static let pubsubFlags = ["pubsub", "noscript", "loading", "stale"]
    private static let connectionFlags = ["noscript", "loading", "stale", "fast"]

    /// PUBLISH's entry, looked up once.
    static let publish = all["publish"]!

    static let all: [String: RelayCommandSpec] = {
        let list: [RelayCommandSpec] = [
            spec("subscribe", -2, pubsubFlags, ["@pubsub", "@slow"]),
            spec("unsubscribe", -1, pubsubFlags, ["@pubsub", "@slow"]),
            spec("psubscribe", -2, pubsubFlags, ["@pubsub", "@slow"]),
            spec("punsubscribe", -1, pubsubFlags, ["@pubsub", "@slow"]),
            spec("ssubscribe", -2, pubsubFlags, ["@pubsub", "@slow"]),
            spec("sunsubscribe", -1, pubsubFlags, ["@pubsub", "@slow"]),
            spec("publish", 3, ["pubsub", "loading", "stale", "fast"], ["@pubsub", "@fast"]),
            spec("spublish", 3, ["pubsub", "loading", "stale", "fast"], ["@pubsub", "@fast"]),
            spec("pubsub", -2, [], ["@slow"], [
                spec("pubsub|channels", -2, ["pubsub", "loading", "stale"], ["@pubsub", "@slow"]),
                spec("pubsub|numsub", -2, ["pubsub", "loading", "stale"], ["@pubsub", "@slow"]),
                spec("pubsub|numpat", 2, ["pubsub", "loading", "stale"], ["@pubsub", "@slow"]),
                spec("pubsub|shardchannels", -2, ["pubsub", "loading", "stale"], ["@pubsub", "@slow"]),
                spec("pubsub|shardnumsub", -2, ["pubsub", "loading", "stale"], ["@pubsub", "@slow"]),
                spec("pubsub|help", 2, ["loading", "stale"], ["@slow"]),
            ]),
            spec("ping", -1, ["fast"], ["@fast", "@connection"]),
            spec("echo", 2, connectionFlags, ["@fast", "@connection"]),
            spec("quit", -1, ["allow_busy", "noscript", "loading", "stale", "fast", "no_auth"], ["@fast", "@connection"]),
            spec("reset", 1, ["noscript", "loading", "stale", "fast", "no_auth"], ["@fast", "@connection"]),
            spec("hello", -1, ["noscript", "loading", "stale", "fast", "no_auth"], ["@fast", "@connection"]),
            spec("auth", -2, ["noscript", "loading", "stale", "fast", "no_auth"], ["@fast", "@connection"]),
            spec("select", 2, connectionFlags, ["@fast", "@connection"]),
            spec("flushall", -1, ["write"], ["@keyspace", "@write", "@slow", "@dangerous"]),
            spec("flushdb", -1, ["write"], ["@keyspace", "@write", "@slow", "@dangerous"]),
            spec("info", -1, ["loading", "stale"], ["@slow", "@dangerous"]),
            spec("client", -2, [], ["@slow"], [
                spec("client|id", 2, connectionFlags, ["@slow", "@connection"]),
                spec("client|setname", 3, connectionFlags, ["@slow", "@connection"]),
                spec("client|getname", 2, connectionFlags, ["@slow", "@connection"]),
                spec("client|list", -2, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous", "@connection"]),
                spec("client|info", 2, connectionFlags, ["@slow", "@connection"]),
                spec("client|setinfo", 4, connectionFlags, ["@slow", "@connection"]),
                spec("client|reply", 3, connectionFlags, ["@slow", "@connection"]),
                spec("client|kill", -3, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous", "@connection"]),
                spec("client|help", 2, ["loading", "stale"], ["@slow", "@connection"]),
            ]),
            spec("command", -1, ["loading", "stale"], ["@slow", "@connection"], [
                spec("command|count", 2, ["loading", "stale"], ["@slow", "@connection"]),
                spec("command|docs", -2, ["loading", "stale"], ["@slow", "@connection"]),
                spec("command|info", -2, ["loading", "stale"], ["@slow", "@connection"]),
                spec("command|list", -2, ["loading", "stale"], ["@slow", "@connection"]),
                spec("command|help", 2, ["loading", "stale"], ["@slow", "@connection"]),
            ]),
            spec("config", -2, [], ["@slow"], [
                spec("config|get", -3, ["admin", "noscript", "loading", "stale"], ["@admin", "@slow", "@dangerous"]),
                spec("config|help", 2, ["loading", "stale"], ["@slow"]),
            ]),
        ]
        return Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }()
}
