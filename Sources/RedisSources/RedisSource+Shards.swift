import Logging
import LookoutCore
import Synchronization

extension RedisSource {
    /// One shard's subscription: a connection to a node of the shard and the shard channels it
    /// holds.
    private struct ShardSubscription {
        var node: ClusterTopology.Node
        var connection: RedisConnection
        var channels: Set<String> = []
    }

    /// Sharded pub/sub: Redis never delivers SPUBLISH to pattern subscribers, so every shard
    /// channel the poller found is `SSUBSCRIBE`d, one command per channel (a command cannot span
    /// slots), on a connection to the shard that owns it (its primary). A pushed `sunsubscribe`
    /// (the slot moved) or a lost connection drops the channel, to be subscribed again where the
    /// next topology puts it.
    func shardLoop() {
        var subscriptions: [Int: ShardSubscription] = [:]
        var topology = shared.withLock { $0.topology }
        var plannedVersion: UInt64?
        var needsReconcile = true
        while !isStopping {
            // Reconciled only when the poller's plan changed or a subscription was lost: not for
            // every batch of sharded messages this loop reads.
            let plan = shared.withLock { state in
                state.planVersion == plannedVersion && !needsReconcile ? nil : (state.planVersion, state.topology, state.shardChannels)
            }
            if let (version, current, wanted) = plan {
                plannedVersion = version
                if current != topology {
                    // Shards renumbered, slots moved or primaries changed: start afresh.
                    subscriptions.removeAll()
                    topology = current
                }
                needsReconcile = !reconcile(&subscriptions, topology: topology, wanted: wanted)
            }
            guard !subscriptions.isEmpty else {
                sleep(.milliseconds(200))
                continue
            }
            let indices = Array(subscriptions.keys)
            let results = RedisConnection.poll(indices.map { subscriptions[$0]!.connection }, timeoutMilliseconds: 200)
            for (index, result) in zip(indices, results) {
                switch result {
                case .success(let replies):
                    handle(replies)
                    for channel in Self.unsubscribedByServer(replies) {
                        subscriptions[index]?.channels.remove(channel)
                        needsReconcile = true
                    }
                case .failure(let error):
                    logger.warning("shard subscription lost", metadata: [
                        "source": "\(name)", "node": "\(subscriptions[index].map { "\($0.node)" } ?? "?")", "error": "\(error)",
                    ])
                    subscriptions[index] = nil
                    needsReconcile = true
                }
            }
        }
    }

    /// Subscribes each shard's connection to the channels wanted there and unsubscribes the rest;
    /// false when a shard could not be reached or written (to be tried again).
    private func reconcile(_ subscriptions: inout [Int: ShardSubscription], topology: ClusterTopology, wanted: [String: Int]) -> Bool {
        var complete = true
        var byShard: [Int: Set<String>] = [:]
        for (channel, index) in wanted { byShard[index, default: []].insert(channel) }
        for (index, shard) in topology.shards.enumerated() {
            guard let channels = byShard[index] else {
                subscriptions[index] = nil
                continue
            }
            if subscriptions[index] == nil, let node = shard.primary ?? shard.nodes.first {
                do {
                    subscriptions[index] = ShardSubscription(node: node, connection: try RedisConnection(url(of: node), clientName: "lookout-shard"))
                } catch {
                    logger.warning("shard subscription cannot connect", metadata: ["source": "\(name)", "node": "\(node)", "error": "\(error)"])
                    complete = false
                    continue
                }
            }
            guard var subscription = subscriptions[index] else { continue }
            do {
                for channel in channels.subtracting(subscription.channels).sorted() {
                    try subscription.connection.append(["SSUBSCRIBE", channel])
                    subscription.channels.insert(channel)
                }
                for channel in subscription.channels.subtracting(channels).sorted() {
                    try subscription.connection.append(["SUNSUBSCRIBE", channel])
                    subscription.channels.remove(channel)
                }
                subscriptions[index] = subscription
            } catch {
                subscriptions[index] = nil
                complete = false
            }
        }
        return complete
    }

    /// Channels Redis unsubscribed the connection from by itself (a `sunsubscribe` push when the
    /// channel's slot moved to another shard).
    private static func unsubscribedByServer(_ replies: [RedisReply]) -> [String] {
        replies.compactMap { reply in
            guard case .array(let parts) = reply, parts.count == 3, parts[0].text == "sunsubscribe" else { return nil }
            return parts[1].text
        }
    }
}
