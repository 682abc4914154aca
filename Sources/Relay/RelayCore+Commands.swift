import Glob
import NIOCore
import PubSubCore
import RESP

/// The Redis version the relay reports in HELLO and INFO: the pub/sub behaviour it follows.
let compatibleRedisVersion = "7.2.0"

extension RelayCore {
    /// Runs one request for `client`, writing its reply into the client's outbox.
    func execute(_ arguments: [ByteBuffer], for client: RelayClient) {
        stats.commandsProcessed += 1
        let skipThisReply = client.skipNextReply
        client.skipNextReply = false
        client.replySkippedNow = skipThisReply
        defer { client.replySkippedNow = false }

        // PUBLISH is most of the traffic: recognised from its bytes, without building a String.
        let isPublish = Self.isPublish(arguments[0])
        let name = isPublish ? "publish" : String(buffer: arguments[0]).lowercased()
        guard var spec = isPublish ? RelayCommandSpec.publish : RelayCommandSpec.all[name] else {
            client.reply(.error(Self.unknownCommandMessage(arguments)))
            return
        }
        if !spec.subcommands.isEmpty && arguments.count >= 2 {
            let subcommand = "\(name)|\(String(buffer: arguments[1]).lowercased())"
            guard let found = spec.subcommands.first(where: { $0.name == subcommand }) else {
                client.reply(.error("ERR unknown subcommand '\(Self.printable(arguments[1]))'. Try \(name.uppercased()) HELP."))
                return
            }
            spec = found
        }
        guard spec.accepts(argumentCount: arguments.count) else {
            client.reply(.error("ERR wrong number of arguments for '\(spec.name)' command"))
            return
        }
        guard client.authenticated || spec.allowedWithoutAuth else {
            client.reply(.error("NOAUTH Authentication required."))
            return
        }
        guard !client.inSubscribedContext || spec.allowedWhenSubscribed else {
            client.reply(.error(
                "ERR Can't execute '\(spec.name)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"))
            return
        }
        client.lastCommand = spec.name
        run(spec.name, arguments, for: client)
    }

    /// Whether `word` is PUBLISH in any letter case: 7 bytes compared as two overlapping 4-byte
    /// words, lower-cased.
    @inline(__always)
    static func isPublish(_ word: ByteBuffer) -> Bool {
        guard word.readableBytes == 7,
              let head = word.getInteger(at: word.readerIndex, endianness: .big, as: UInt32.self),
              let tail = word.getInteger(at: word.readerIndex + 3, endianness: .big, as: UInt32.self) else { return false }
        // "publ" and "lish" (overlapping on the "l").
        return head | 0x2020_2020 == 0x7075_626C && tail | 0x2020_2020 == 0x6C69_7368
    }

    private func run(_ command: String, _ arguments: [ByteBuffer], for client: RelayClient) {
        switch command {
        case "publish", "spublish":
            let receivers = publish(channel: arguments[1], payload: arguments[2], sharded: command == "spublish", publisher: client)
            client.reply(.integer(Int64(receivers)))
        case "subscribe": subscribe(client, arguments.dropFirst(), kind: .channel)
        case "psubscribe": subscribe(client, arguments.dropFirst(), kind: .pattern)
        case "ssubscribe": subscribe(client, arguments.dropFirst(), kind: .shardChannel)
        case "unsubscribe": unsubscribe(client, arguments.dropFirst(), kind: .channel)
        case "punsubscribe": unsubscribe(client, arguments.dropFirst(), kind: .pattern)
        case "sunsubscribe": unsubscribe(client, arguments.dropFirst(), kind: .shardChannel)
        case "ping":
            guard arguments.count <= 2 else {
                client.reply(.error("ERR wrong number of arguments for 'ping' command"))
                return
            }
            if client.inSubscribedContext {
                client.reply(.array([.bulkString("pong"), .bulkString(arguments.count > 1 ? arguments[1] : ByteBuffer())]))
            } else if arguments.count > 1 {
                client.reply(.bulkString(arguments[1]))
            } else {
                client.reply(.simpleString("PONG"))
            }
        case "echo":
            client.reply(.bulkString(arguments[1]))
        case "quit":
            client.reply(.simpleString("OK"))
            close(client)
        case "reset":
            resetConnection(client)
            client.reply(.simpleString("RESET"))
        case "hello": hello(client, arguments)
        case "auth": auth(client, arguments)
        case "select":
            guard let index = Int(String(buffer: arguments[1])) else {
                client.reply(.error("ERR value is not an integer or out of range"))
                return
            }
            client.reply(index >= 0 && index < 16 ? .simpleString("OK") : .error("ERR DB index is out of range"))
        case "flushall", "flushdb":
            let option = arguments.count == 2 ? String(buffer: arguments[1]).lowercased() : nil
            guard arguments.count <= 2, option == nil || option == "sync" || option == "async" else {
                client.reply(.error("ERR syntax error"))
                return
            }
            client.reply(.simpleString("OK"))
        case "pubsub|channels", "pubsub|shardchannels":
            guard arguments.count <= 3 else {
                client.reply(.error("ERR unknown subcommand or wrong number of arguments for '\(Self.printable(arguments[1]))'. Try PUBSUB HELP."))
                return
            }
            let kind: SubscriptionRegistry<RelayClient>.Kind = command == "pubsub|channels" ? .channel : .shardChannel
            let names = registry.names(kind: kind, matching: arguments.count == 3 ? arguments[2] : nil)
            client.reply(.array(names.map { .bulkString($0) }))
        case "pubsub|numsub", "pubsub|shardnumsub":
            let kind: SubscriptionRegistry<RelayClient>.Kind = command == "pubsub|numsub" ? .channel : .shardChannel
            var reply: [RESPValue] = []
            for name in arguments.dropFirst(2) {
                reply.append(.bulkString(name))
                reply.append(.integer(Int64(registry.subscriberCount(of: name, kind: kind))))
            }
            client.reply(.array(reply))
        case "pubsub|numpat":
            client.reply(.integer(Int64(registry.patternCount)))
        case "pubsub|help": client.reply(Self.help(for: "PUBSUB"))
        case "client|id": client.reply(.integer(Int64(client.id)))
        case "client|setname":
            guard let name = Self.validClientName(arguments[2]) else {
                client.reply(.error("ERR Client names cannot contain spaces, newlines or special characters."))
                return
            }
            client.name = name
            notify(.named, client)
            client.reply(.simpleString("OK"))
        case "client|getname":
            client.reply(client.name.isEmpty ? .null : .bulkString(client.name))
        case "client|list": clientList(client, arguments)
        case "client|info": client.reply(.verbatimText(describe(client) + "\n"))
        case "client|setinfo": clientSetInfo(client, arguments)
        case "client|reply": clientReply(client, arguments)
        case "client|kill": clientKill(client, arguments)
        case "client|help": client.reply(Self.help(for: "CLIENT"))
        case "info": client.reply(.verbatimText(info(sections: arguments.dropFirst().map { String(buffer: $0).lowercased() })))
        case "command":
            client.reply(.array(RelayCommandSpec.all.keys.sorted().map { commandInfo(RelayCommandSpec.all[$0]!) }))
        case "command|count": client.reply(.integer(Int64(RelayCommandSpec.all.count)))
        case "command|docs": client.reply(.map([]))
        case "command|info":
            let names = arguments.count == 2 ? Array(RelayCommandSpec.all.keys.sorted()) : arguments.dropFirst(2).map { String(buffer: $0).lowercased() }
            client.reply(.array(names.map { RelayCommandSpec.all[$0].map(commandInfo) ?? .nullArray }))
        case "command|list": client.reply(.array(RelayCommandSpec.all.keys.sorted().map { .bulkString($0) }))
        case "command|help": client.reply(Self.help(for: "COMMAND"))
        case "config|get": configGet(client, arguments.dropFirst(2).map { String(buffer: $0).lowercased() })
        case "config|help": client.reply(Self.help(for: "CONFIG"))
        default:
            preconditionFailure("command \(command) is in the table but has no implementation")
        }
    }

    // MARK: subscriptions

    private func subscribe(_ client: RelayClient, _ names: ArraySlice<ByteBuffer>, kind: SubscriptionRegistry<RelayClient>.Kind) {
        for name in names {
            if client.insert(ByteBuffer(buffer: name), kind: kind) {
                registry.subscribe(client, to: name, kind: kind)
            }
            client.push(Self.subscriptionReply(Self.subscribeVerb(kind), name, client, kind: kind))
        }
        notify(.subscriptionsChanged, client)
    }

    private func unsubscribe(_ client: RelayClient, _ names: ArraySlice<ByteBuffer>, kind: SubscriptionRegistry<RelayClient>.Kind) {
        let targets = names.isEmpty ? Array(client.set(of: kind)) : Array(names)
        let verb = Self.unsubscribeVerb(kind)
        if targets.isEmpty {
            client.push(Self.subscriptionReply(verb, nil, client, kind: kind))
            return
        }
        for name in targets {
            if client.remove(name, kind: kind) {
                registry.unsubscribe(client, from: name, kind: kind)
            }
            client.push(Self.subscriptionReply(verb, name, client, kind: kind))
        }
        notify(.subscriptionsChanged, client)
    }

    private static func subscribeVerb(_ kind: SubscriptionRegistry<RelayClient>.Kind) -> String {
        switch kind {
        case .channel: "subscribe"
        case .pattern: "psubscribe"
        case .shardChannel: "ssubscribe"
        }
    }

    private static func unsubscribeVerb(_ kind: SubscriptionRegistry<RelayClient>.Kind) -> String {
        switch kind {
        case .channel: "unsubscribe"
        case .pattern: "punsubscribe"
        case .shardChannel: "sunsubscribe"
        }
    }

    /// `[verb, name, count]`; the count is channels plus patterns, or shard channels alone for
    /// the shard commands, as Redis reports them.
    private static func subscriptionReply(
        _ verb: String, _ name: ByteBuffer?, _ client: RelayClient, kind: SubscriptionRegistry<RelayClient>.Kind
    ) -> ByteBuffer {
        let count = kind == .shardChannel ? client.shardChannels.count : client.channels.count + client.patterns.count
        let value = RESPValue.push([.bulkString(verb), name.map { .bulkString($0) } ?? .null, .integer(Int64(count))])
        return value.encoded(version: client.version)
    }

    func dropAllSubscriptions(_ client: RelayClient) {
        for name in client.channels { registry.unsubscribe(client, from: name, kind: .channel) }
        for name in client.patterns { registry.unsubscribe(client, from: name, kind: .pattern) }
        for name in client.shardChannels { registry.unsubscribe(client, from: name, kind: .shardChannel) }
        client.channels = []
        client.patterns = []
        client.shardChannels = []
    }

    // MARK: connection

    private func resetConnection(_ client: RelayClient) {
        let hadSubscriptions = client.subscriptionCount > 0
        dropAllSubscriptions(client)
        client.version = .resp2
        client.name = ""
        client.repliesOff = false
        client.authenticated = configuration.password == nil
        if hadSubscriptions { notify(.subscriptionsChanged, client) }
    }

    private func checkPassword(user: String, password: ByteBuffer) -> Bool {
        guard user == "default" else { return false }
        guard let expected = configuration.password else { return true }
        return String(buffer: password) == expected
    }

    private func auth(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        guard arguments.count <= 3 else {
            client.reply(.error("ERR syntax error"))
            return
        }
        if arguments.count == 2 && configuration.password == nil {
            client.reply(.error(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"))
            return
        }
        let user = arguments.count == 3 ? String(buffer: arguments[1]) : "default"
        if checkPassword(user: user, password: arguments[arguments.count - 1]) {
            client.authenticated = true
            client.reply(.simpleString("OK"))
        } else {
            client.reply(.error("WRONGPASS invalid username-password pair or user is disabled."))
        }
    }

    private func hello(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        var version = client.version
        if arguments.count >= 2 {
            guard let requested = Int(String(buffer: arguments[1])) else {
                client.reply(.error("ERR Protocol version is not an integer or out of range"))
                return
            }
            guard let supported = RESPVersion(rawValue: requested) else {
                client.reply(.error("NOPROTO unsupported protocol version"))
                return
            }
            version = supported
        }
        var credentials: (String, ByteBuffer)?
        var newName: String?
        var index = 2
        while index < arguments.count {
            let option = String(buffer: arguments[index]).lowercased()
            let remaining = arguments.count - 1 - index
            if option == "auth" && remaining >= 2 {
                credentials = (String(buffer: arguments[index + 1]), arguments[index + 2])
                index += 3
            } else if option == "setname" && remaining >= 1 {
                guard let name = Self.validClientName(arguments[index + 1]) else {
                    client.reply(.error("ERR Client names cannot contain spaces, newlines or special characters."))
                    return
                }
                newName = name
                index += 2
            } else {
                client.reply(.error("ERR Syntax error in HELLO option '\(Self.printable(arguments[index]))'"))
                return
            }
        }
        if let (user, password) = credentials {
            guard checkPassword(user: user, password: password) else {
                client.reply(.error("WRONGPASS invalid username-password pair or user is disabled."))
                return
            }
            client.authenticated = true
        }
        guard client.authenticated else {
            client.reply(.error(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"))
            return
        }
        if let newName {
            client.name = newName
            notify(.named, client)
        }
        client.version = version
        client.reply(.map([
            RESPMapEntry(.bulkString("server"), .bulkString("redis")),
            RESPMapEntry(.bulkString("version"), .bulkString(compatibleRedisVersion)),
            RESPMapEntry(.bulkString("proto"), .integer(Int64(version.rawValue))),
            RESPMapEntry(.bulkString("id"), .integer(Int64(client.id))),
            RESPMapEntry(.bulkString("mode"), .bulkString("standalone")),
            RESPMapEntry(.bulkString("role"), .bulkString("master")),
            RESPMapEntry(.bulkString("modules"), .array([])),
        ]))
    }

    /// Redis accepts names of printable ASCII without spaces; the empty name clears it.
    static func validClientName(_ bytes: ByteBuffer) -> String? {
        guard bytes.readableBytesView.allSatisfy({ $0 >= UInt8(ascii: "!") && $0 <= UInt8(ascii: "~") }) else { return nil }
        return String(buffer: bytes)
    }

    private func clientSetInfo(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        let attribute = String(buffer: arguments[2]).lowercased()
        let value = String(buffer: arguments[3])
        guard arguments[3].readableBytesView.allSatisfy({ $0 >= UInt8(ascii: "!") && $0 <= UInt8(ascii: "~") }) else {
            client.reply(.error("ERR \(attribute) cannot contain spaces, newlines or special characters."))
            return
        }
        switch attribute {
        case "lib-name": client.libraryName = value
        case "lib-ver": client.libraryVersion = value
        default:
            client.reply(.error("ERR Unrecognized option '\(Self.printable(arguments[2]))'"))
            return
        }
        client.reply(.simpleString("OK"))
    }

    private func clientReply(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        switch String(buffer: arguments[2]).lowercased() {
        case "on":
            client.repliesOff = false
            client.reply(.simpleString("OK"))
        case "off":
            client.repliesOff = true
        case "skip":
            if !client.repliesOff { client.skipNextReply = true }
        default:
            client.reply(.error("ERR syntax error"))
        }
    }

    // MARK: introspection

    /// One CLIENT LIST line, with Redis's fields in Redis's order.
    func describe(_ client: RelayClient) -> String {
        let now = NIODeadline.now()
        let age = (now - client.createdAt).nanoseconds / 1_000_000_000
        let idle = (now - client.lastInteraction).nanoseconds / 1_000_000_000
        let flags = client.subscriptionCount > 0 ? "P" : "N"
        let pending = (try? client.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        let omem = pending + client.outbox.readableBytes
        return "id=\(client.id) addr=\(client.remoteAddress) laddr=\(client.localAddress) fd=-1 name=\(client.name) "
            + "age=\(age) idle=\(idle) flags=\(flags) db=0 sub=\(client.channels.count) psub=\(client.patterns.count) "
            + "ssub=\(client.shardChannels.count) multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 "
            + "obl=0 oll=0 omem=\(omem) tot-mem=\(omem) events=r cmd=\(client.lastCommand) user=default redir=-1 "
            + "resp=\(client.version.rawValue) lib-name=\(client.libraryName) lib-ver=\(client.libraryVersion)"
    }

    private func clientList(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        var selected = clients.values.sorted { $0.id < $1.id }
        var index = 2
        while index < arguments.count {
            let option = String(buffer: arguments[index]).lowercased()
            if option == "type", index + 1 < arguments.count {
                let type = String(buffer: arguments[index + 1]).lowercased()
                switch type {
                case "pubsub": selected = selected.filter { $0.subscriptionCount > 0 }
                case "normal": selected = selected.filter { $0.subscriptionCount == 0 }
                case "master", "replica", "slave": selected = []
                default:
                    client.reply(.error("ERR Unknown client type '\(Self.printable(arguments[index + 1]))'"))
                    return
                }
                index += 2
            } else if option == "id", index + 1 < arguments.count {
                var ids: Set<UInt64> = []
                for argument in arguments[(index + 1)...] {
                    guard let id = UInt64(String(buffer: argument)), id > 0 else {
                        client.reply(.error("ERR Invalid client ID"))
                        return
                    }
                    ids.insert(id)
                }
                selected = selected.filter { ids.contains($0.id) }
                index = arguments.count
            } else {
                client.reply(.error("ERR syntax error"))
                return
            }
        }
        client.reply(.verbatimText(selected.map { describe($0) + "\n" }.joined()))
    }

    private func clientKill(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        if arguments.count == 3 {
            let address = String(buffer: arguments[2])
            guard let target = clients.values.first(where: { $0.remoteAddress == address }) else {
                client.reply(.error("ERR No such client"))
                return
            }
            client.reply(.simpleString("OK"))
            close(target)
            return
        }
        var id: UInt64?, address: String?, localAddress: String?, type: String?, user: String?
        var skipMe = true
        var index = 2
        while index < arguments.count {
            guard index + 1 < arguments.count else {
                client.reply(.error("ERR syntax error"))
                return
            }
            let value = String(buffer: arguments[index + 1])
            switch String(buffer: arguments[index]).lowercased() {
            case "id":
                guard let parsed = UInt64(value), parsed > 0 else {
                    client.reply(.error("ERR client-id should be greater than 0"))
                    return
                }
                id = parsed
            case "addr": address = value
            case "laddr": localAddress = value
            case "user": user = value
            case "type":
                guard ["normal", "pubsub", "master", "replica", "slave"].contains(value.lowercased()) else {
                    client.reply(.error("ERR Unknown client type '\(value)'"))
                    return
                }
                type = value.lowercased()
            case "skipme":
                switch value.lowercased() {
                case "yes": skipMe = true
                case "no": skipMe = false
                default:
                    client.reply(.error("ERR syntax error"))
                    return
                }
            default:
                client.reply(.error("ERR syntax error"))
                return
            }
            index += 2
        }
        let targets = clients.values.filter { candidate in
            if let id, candidate.id != id { return false }
            if let address, candidate.remoteAddress != address { return false }
            if let localAddress, candidate.localAddress != localAddress { return false }
            if let user, user != "default" { return false }
            if let type {
                switch type {
                case "pubsub": if candidate.subscriptionCount == 0 { return false }
                case "normal": if candidate.subscriptionCount > 0 { return false }
                default: return false
                }
            }
            return !(skipMe && candidate === client)
        }
        client.reply(.integer(Int64(targets.count)))
        for target in targets { close(target) }
    }

    private func commandInfo(_ spec: RelayCommandSpec) -> RESPValue {
        .array([
            .bulkString(spec.name),
            .integer(Int64(spec.arity)),
            .set(spec.flags.map { .simpleString($0) }),
            .integer(0), .integer(0), .integer(0),
            .set(spec.categories.map { .simpleString($0) }),
            .array([]),
            .array([]),
            .array(spec.subcommands.map(commandInfo)),
        ])
    }

    private func configGet(_ client: RelayClient, _ patterns: [String]) {
        let limits = configuration.outputBufferLimits
        let settings: [(String, String)] = [
            ("bind", configuration.host),
            ("port", String(configuration.port)),
            ("requirepass", configuration.password ?? ""),
            ("maxclients", String(configuration.maxClients)),
            ("databases", "16"),
            ("timeout", "0"),
            ("proto-max-bulk-len", String(configuration.requestLimits.maxBulkLength)),
            ("client-output-buffer-limit", "normal 0 0 0 slave 0 0 0 pubsub \(limits.redisSyntax)"),
            ("save", ""),
            ("appendonly", "no"),
        ]
        let matching = settings.filter { setting in
            patterns.contains { GlobPattern.matches(pattern: $0, subject: setting.0) }
        }
        client.reply(.map(matching.map { RESPMapEntry(.bulkString($0.0), .bulkString($0.1)) }))
    }

    func info(sections requested: [String]) -> String {
        let all = requested.isEmpty || requested.contains { ["all", "everything", "default"].contains($0) }
        var text = ""
        func section(_ name: String, _ fields: [(String, String)]) {
            guard all || requested.contains(name.lowercased()) else { return }
            if !text.isEmpty { text += "\r\n" }
            text += "# \(name)\r\n"
            for (key, value) in fields { text += "\(key):\(value)\r\n" }
        }
        let uptime = (NIODeadline.now() - startedAt).nanoseconds / 1_000_000_000
        section("Server", [
            ("redis_version", compatibleRedisVersion),
            ("lookout_version", LookoutVersion.current),
            ("redis_mode", "standalone"),
            ("arch_bits", String(Int.bitWidth)),
            ("multiplexing_api", "nio"),
            ("process_id", String(ProcessInfoShim.pid)),
            ("run_id", runID),
            ("tcp_port", String(configuration.port)),
            ("uptime_in_seconds", String(uptime)),
            ("uptime_in_days", String(uptime / 86400)),
        ])
        section("Clients", [
            ("connected_clients", String(clients.count)),
            ("maxclients", String(configuration.maxClients)),
            ("pubsub_clients", String(clients.values.filter { $0.subscriptionCount > 0 }.count)),
            ("blocked_clients", "0"),
        ])
        section("Stats", [
            ("total_connections_received", String(stats.connectionsReceived)),
            ("total_commands_processed", String(stats.commandsProcessed)),
            ("rejected_connections", String(stats.rejectedConnections)),
            ("pubsub_channels", String(registry.names(kind: .channel).count)),
            ("pubsub_patterns", String(registry.patternCount)),
            ("pubsubshard_channels", String(registry.names(kind: .shardChannel).count)),
            ("client_output_buffer_limit_disconnections", String(stats.slowSubscriberDisconnects)),
            ("total_error_replies_protocol", String(stats.protocolErrors)),
            ("lookout_messages_published", String(stats.messagesPublished)),
            ("lookout_messages_delivered", String(stats.messagesDelivered)),
            ("lookout_messages_unrouted", String(stats.messagesUnrouted)),
        ])
        return text
    }

    static func help(for command: String) -> RESPValue {
        let lines: [String]
        switch command {
        case "PUBSUB":
            lines = [
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
            ]
        case "CLIENT":
            lines = [
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
            ]
        case "COMMAND":
            lines = [
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)", "    Return details about all commands.",
                "COUNT", "    Return the total number of commands.",
                "DOCS [<command-name> ...]", "    Return documentation details (none on this server).",
                "INFO [<command-name> ...]", "    Return details about the given commands.",
                "LIST", "    Return a list of all commands.",
                "HELP", "    Prints this help.",
            ]
        default:
            lines = [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern> [<pattern> ...]", "    Return parameters matching the glob-like <pattern>s and their values.",
                "HELP", "    Prints this help.",
            ]
        }
        return .array(lines.map { .simpleString($0) })
    }

    /// Redis's unknown-command error: the name and up to 128 bytes of arguments, each quoted,
    /// cut at a NUL byte and with CR and LF shown as spaces.
    static func unknownCommandMessage(_ arguments: [ByteBuffer]) -> String {
        var list = ""
        for argument in arguments.dropFirst() {
            guard list.utf8.count < 128 else { break }
            list += "'\(printable(argument, limit: 128 - list.utf8.count))' "
        }
        return "ERR unknown command '\(printable(arguments[0]))', with args beginning with: \(list)"
    }

    /// Argument text for an error message: up to `limit` bytes, cut at NUL, CR and LF as spaces.
    static func printable(_ bytes: ByteBuffer, limit: Int = 128) -> String {
        var result: [UInt8] = []
        for byte in bytes.readableBytesView.prefix(limit) {
            if byte == 0 { break }
            result.append(byte == 0x0D || byte == 0x0A ? 0x20 : byte)
        }
        return String(decoding: result, as: UTF8.self)
    }
}
