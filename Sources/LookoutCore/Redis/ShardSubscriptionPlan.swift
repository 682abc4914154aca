/// Where the Redis source holds each shard channel's `SSUBSCRIBE`, and what to change to get
/// there from the subscriptions it has. A shard channel is served by the nodes of the shard that
/// owns its slot; one node per shard holds them all: the one already holding them while it is
/// still a healthy member (a subscription that moves can miss messages), else a replica (it keeps
/// the load off the primary), else the primary. Nodes that just failed are passed over while
/// another node of the shard is left. Pure.
public struct ShardSubscriptionPlan: Sendable, Equatable {
    /// Per node: the channels to subscribe there.
    public var subscribe: [RedisEndpoint: [String]] = [:]
    /// Per node: the channels to unsubscribe there.
    public var unsubscribe: [RedisEndpoint: [String]] = [:]
    /// Nodes whose subscription is no longer needed at all.
    public var close: [RedisEndpoint] = []
    /// The node chosen for each shard that has channels (by shard index).
    public var holders: [Int: RedisEndpoint] = [:]
    /// Shards that have channels but no healthy node: their channels wait for a new topology.
    public var unserved: [Int] = []

    /// - Parameters:
    ///   - wanted: every shard channel to watch.
    ///   - current: the channels each node's subscription holds now.
    ///   - avoiding: nodes whose subscription failed since the topology was last read.
    public init(topology: ClusterTopology, wanted: Set<String>, current: [RedisEndpoint: Set<String>], avoiding: Set<RedisEndpoint> = []) {
        var byShard: [Int: Set<String>] = [:]
        for channel in wanted {
            if let index = topology.shardIndex(forChannel: channel) { byShard[index, default: []].insert(channel) }
        }
        var kept: Set<RedisEndpoint> = []
        for (index, channels) in byShard.sorted(by: { $0.key < $1.key }) {
            let healthy = topology.shards[index].nodes.filter(\.isHealthy)
            let usable = healthy.filter { !avoiding.contains($0.endpoint) }
            let candidates = usable.isEmpty ? healthy : usable
            let holding = candidates.first { !(current[$0.endpoint] ?? []).isEmpty }
            let replica = candidates.filter { !$0.isPrimary }.min { $0.description < $1.description }
            guard let chosen = (holding ?? replica ?? candidates.first)?.endpoint else {
                unserved.append(index)
                continue
            }
            holders[index] = chosen
            kept.insert(chosen)
            let held = current[chosen] ?? []
            let add = channels.subtracting(held).sorted()
            let remove = held.subtracting(channels).sorted()
            if !add.isEmpty { subscribe[chosen] = add }
            if !remove.isEmpty { unsubscribe[chosen] = remove }
        }
        close = current.keys.filter { !kept.contains($0) }.sorted { $0.description < $1.description }
    }

    /// Whether the subscriptions already are as planned.
    public var isSettled: Bool { subscribe.isEmpty && unsubscribe.isEmpty && close.isEmpty }
}
