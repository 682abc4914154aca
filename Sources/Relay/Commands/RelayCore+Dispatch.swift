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
        let command: RelayCommand
        if Self.isPublish(arguments[0]) && arguments.count == 3 {
            command = .publish
        } else {
            let name = String(buffer: arguments[0]).lowercased()
            let subcommand = arguments.count >= 2 ? String(buffer: arguments[1]).lowercased() : nil
            switch RelayCommandTable.resolve(name: name, subcommand: subcommand, argumentCount: arguments.count) {
            case .success(let resolved):
                command = resolved
            case .failure(.unknownCommand):
                client.reply(.error(Self.unknownCommandMessage(arguments)))
                return
            case .failure(.unknownSubcommand(let container)):
                client.reply(.error("ERR unknown subcommand '\(Self.printable(arguments[1]))'. Try \(container.uppercased()) HELP."))
                return
            case .failure(.wrongArity(let name)):
                client.reply(.error("ERR wrong number of arguments for '\(name)' command"))
                return
            }
        }
        guard client.authenticated || command.allowedWithoutAuth else {
            client.reply(.error("NOAUTH Authentication required."))
            return
        }
        if let permissions = client.permissions, !Self.permits(permissions, command, arguments) {
            client.reply(.error("NOPERM this user has no permissions to access one of the channels used as arguments"))
            return
        }
        guard !client.inSubscribedContext || command.allowedWhenSubscribed else {
            client.reply(.error(
                "ERR Can't execute '\(command.name)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"))
            return
        }
        client.lastCommand = command.name
        run(command, arguments, for: client)
    }

    /// Whether a user with `permissions` may run `command` on its channel arguments (Redis checks
    /// those that publish or subscribe, not those that unsubscribe or list).
    static func permits(_ permissions: ChannelPermissions, _ command: RelayCommand, _ arguments: [ByteBuffer]) -> Bool {
        switch command {
        case .publish, .spublish: return permissions.allows(channel: arguments[1])
        case .subscribe, .ssubscribe: return arguments.dropFirst().allSatisfy { permissions.allows(channel: $0) }
        case .psubscribe: return arguments.dropFirst().allSatisfy { permissions.allows(pattern: $0) }
        default: return true
        }
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

    /// One case per command: the compiler checks that every command has an implementation.
    private func run(_ command: RelayCommand, _ arguments: [ByteBuffer], for client: RelayClient) {
        switch command {
        // Pub/sub.
        case .publish, .spublish:
            let receivers = publish(channel: arguments[1], payload: arguments[2], sharded: command == .spublish, publisher: client)
            client.reply(integer: receivers)
        case .subscribe: subscribe(client, arguments.dropFirst(), kind: .channel)
        case .psubscribe: subscribe(client, arguments.dropFirst(), kind: .pattern)
        case .ssubscribe: subscribe(client, arguments.dropFirst(), kind: .shardChannel)
        case .unsubscribe: unsubscribe(client, arguments.dropFirst(), kind: .channel)
        case .punsubscribe: unsubscribe(client, arguments.dropFirst(), kind: .pattern)
        case .sunsubscribe: unsubscribe(client, arguments.dropFirst(), kind: .shardChannel)
        case .pubsubChannels: pubsubChannels(client, arguments, kind: .channel)
        case .pubsubShardchannels: pubsubChannels(client, arguments, kind: .shardChannel)
        case .pubsubNumsub: pubsubNumsub(client, arguments, kind: .channel)
        case .pubsubShardnumsub: pubsubNumsub(client, arguments, kind: .shardChannel)
        case .pubsubNumpat: client.reply(.integer(Int64(registry.patternCount)))
        case .pubsubHelp: client.reply(Self.help(for: "pubsub"))
        // Connection.
        case .ping: ping(client, arguments)
        case .echo: client.reply(.bulkString(arguments[1]))
        case .quit:
            client.reply(.simpleString("OK"))
            close(client)
        case .reset:
            resetConnection(client)
            client.reply(.simpleString("RESET"))
        case .hello: hello(client, arguments)
        case .auth: auth(client, arguments)
        case .select: select(client, arguments)
        case .clientID: client.reply(.integer(Int64(client.id)))
        case .clientSetname: clientSetname(client, arguments)
        case .clientGetname: client.reply(client.name.isEmpty ? .null : .bulkString(client.name))
        case .clientList: clientList(client, arguments)
        case .clientInfo: client.reply(.verbatimText(describe(client) + "\n"))
        case .clientSetinfo: clientSetInfo(client, arguments)
        case .clientReply: clientReply(client, arguments)
        case .clientKill: clientKill(client, arguments)
        case .clientHelp: client.reply(Self.help(for: "client"))
        case .aclWhoami: aclWhoami(client)
        case .aclHelp: client.reply(Self.help(for: "acl"))
        // Server and introspection.
        case .flushall, .flushdb: flush(client, arguments)
        case .info: client.reply(.verbatimText(info(sections: arguments.dropFirst().map { String(buffer: $0).lowercased() })))
        case .command: client.reply(.array(RelayCommandTable.specs.keys.sorted().map { commandInfo(RelayCommandTable.specs[$0]!) }))
        case .commandCount: client.reply(.integer(Int64(RelayCommandTable.specs.count)))
        case .commandDocs: client.reply(.map([]))
        case .commandInfo: commandInfo(client, arguments)
        case .commandList: client.reply(.array(RelayCommandTable.specs.keys.sorted().map { .bulkString($0) }))
        case .commandHelp: client.reply(Self.help(for: "command"))
        case .configGet: configGet(client, arguments.dropFirst(2).map { String(buffer: $0).lowercased() })
        case .configHelp: client.reply(Self.help(for: "config"))
        case .configResetstat:
            statsBaseline = stats
            client.reply(.simpleString("OK"))
        case .scriptFlush: flush(client, arguments, subcommand: true, refusal: "ERR SCRIPT FLUSH only support SYNC|ASYNC option")
        case .scriptHelp: client.reply(Self.help(for: "script"))
        case .functionFlush: flush(client, arguments, subcommand: true, refusal: "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        case .functionHelp: client.reply(Self.help(for: "function"))
        }
    }

    /// A container's HELP reply.
    static func help(for container: String) -> RESPValue {
        .array(RelayCommandTable.help(for: container).map { .simpleString($0) })
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
