import NIOCore
import PubSubCore
import RESP

/// SUBSCRIBE and its kin, and PUBSUB's subcommands (PUBLISH itself is in RelayCore's hot path).
extension RelayCore {
    func subscribe(_ client: RelayClient, _ names: ArraySlice<ByteBuffer>, kind: SubscriptionRegistry<RelayClient>.Kind) {
        for name in names {
            if client.insert(ByteBuffer(buffer: name), kind: kind) {
                registry.subscribe(client, to: name, kind: kind)
            }
            client.push(Self.subscriptionReply(Self.subscribeVerb(kind), name, client, kind: kind))
        }
        notify(.subscriptionsChanged, client)
    }

    func unsubscribe(_ client: RelayClient, _ names: ArraySlice<ByteBuffer>, kind: SubscriptionRegistry<RelayClient>.Kind) {
        let targets = names.isEmpty ? Array(client.set(of: kind)) : Array(names)
        let verb = Self.unsubscribeVerb(kind)
        // Copied only when this may leave the client with nothing (the observer's missed-message count).
        let held = client.subscriptionCount > 0 && targets.count >= client.subscriptionCount ? heldSubscriptions(client) : ([], [])
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
        notify(.subscriptionsChanged, client, left: client.subscriptionCount == 0 ? held : ([], []))
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

    func pubsubChannels(_ client: RelayClient, _ arguments: [ByteBuffer], kind: SubscriptionRegistry<RelayClient>.Kind) {
        guard arguments.count <= 3 else {
            client.reply(.error("ERR unknown subcommand or wrong number of arguments for '\(Self.printable(arguments[1]))'. Try PUBSUB HELP."))
            return
        }
        let names = registry.names(kind: kind, matching: arguments.count == 3 ? arguments[2] : nil)
        client.reply(.array(names.map { .bulkString($0) }))
    }

    func pubsubNumsub(_ client: RelayClient, _ arguments: [ByteBuffer], kind: SubscriptionRegistry<RelayClient>.Kind) {
        var reply: [RESPValue] = []
        for name in arguments.dropFirst(2) {
            reply.append(.bulkString(name))
            reply.append(.integer(Int64(registry.subscriberCount(of: name, kind: kind))))
        }
        client.reply(.array(reply))
    }
}
