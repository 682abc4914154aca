#if canImport(Glibc)
import Glibc
#endif
import Glob
import LookoutCore
import NIOCore
import PubSubCore
import RESP

/// FLUSHALL/FLUSHDB, SCRIPT FLUSH and FUNCTION FLUSH (accepted: a relay holds no keys, scripts
/// or functions), INFO, COMMAND, CONFIG GET and RESETSTAT, and the CLIENT LIST and CLIENT KILL
/// introspection.
extension RelayCore {
    /// A flush with an optional SYNC or ASYNC; `subcommand` when the option comes after a
    /// subcommand (SCRIPT FLUSH), `refusal` is Redis's reply to any other option.
    func flush(_ client: RelayClient, _ arguments: [ByteBuffer], subcommand: Bool = false, refusal: String = "ERR syntax error") {
        let first = subcommand ? 2 : 1
        let option = arguments.count == first + 1 ? String(buffer: arguments[first]).lowercased() : nil
        guard arguments.count <= first + 1, option == nil || option == "sync" || option == "async" else {
            client.reply(.error(refusal))
            return
        }
        client.reply(.simpleString("OK"))
    }

    func commandInfo(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        let specs = RelayCommandTable.specs
        let names = arguments.count == 2 ? Array(specs.keys.sorted()) : arguments.dropFirst(2).map { String(buffer: $0).lowercased() }
        client.reply(.array(names.map { specs[$0].map(commandInfo) ?? .nullArray }))
    }

    /// Output the client has not read yet: queued for the socket, and in the outbox.
    func outputBytes(_ client: RelayClient) -> Int {
        client.bytesQueuedInNIO() + client.outbox.count
    }

    /// One CLIENT LIST line, with Redis's fields in Redis's order.
    func describe(_ client: RelayClient) -> String {
        let now = NIODeadline.now()
        let age = (now - client.createdAt).nanoseconds / 1_000_000_000
        let idle = (now - client.lastInteraction).nanoseconds / 1_000_000_000
        let flags = client.subscriptionCount > 0 ? "P" : "N"
        let omem = outputBytes(client)
        return "id=\(client.id) addr=\(client.remoteAddress) laddr=\(client.localAddress) fd=-1 name=\(client.name) "
            + "age=\(age) idle=\(idle) flags=\(flags) db=0 sub=\(client.channels.count) psub=\(client.patterns.count) "
            + "ssub=\(client.shardChannels.count) multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 "
            + "obl=0 oll=0 omem=\(omem) tot-mem=\(omem) events=r cmd=\(client.lastCommand) user=\(client.user) redir=-1 "
            + "resp=\(client.version.rawValue) lib-name=\(client.libraryName) lib-ver=\(client.libraryVersion)"
    }

    func clientList(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        guard let filter = client.arguments(ClientListFilter.parse(arguments)) else { return }
        let selected = clients.values.filter { filter.selects(summary($0)) }.sorted { $0.id < $1.id }
        client.reply(.verbatimText(selected.map { describe($0) + "\n" }.joined()))
    }

    func clientKill(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        guard let filter = client.arguments(ClientKillFilter.parse(arguments)) else { return }
        if filter.onlyAddress != nil {
            guard let target = clients.values.first(where: { filter.selects(summary($0), isCaller: $0 === client) }) else {
                client.reply(.error("ERR No such client"))
                return
            }
            client.reply(.simpleString("OK"))
            close(target)
            return
        }
        let targets = clients.values.filter { filter.selects(summary($0), isCaller: $0 === client) }
        client.reply(.integer(Int64(targets.count)))
        for target in targets { close(target) }
    }

    private func summary(_ client: RelayClient) -> ClientSummary {
        ClientSummary(id: client.id, address: client.remoteAddress, localAddress: client.localAddress, subscribed: client.subscriptionCount > 0)
    }

    func commandInfo(_ spec: RelayCommandSpec) -> RESPValue {
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

    func configGet(_ client: RelayClient, _ patterns: [String]) {
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
            ("process_id", String(getpid())),
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
        // Counters since the last CONFIG RESETSTAT (the monitor reads them whole, never reset).
        let stats = stats.since(statsBaseline)
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

}
