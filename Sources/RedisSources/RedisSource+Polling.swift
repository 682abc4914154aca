import Glob
import Logging
import LookoutCore
import LookoutMetrics
import Observations
import Prometheus
import Synchronization

extension RedisSource {
    /// Connections of the poller, one per node, kept between polls.
    final class NodeConnections {
        private var connections: [RedisEndpoint: RedisConnection] = [:]
        private let source: RedisSource
        /// False once a SPUBLISH was refused as an unknown command (Redis before 7): no shard probes.
        var shardedPubSub = true

        init(source: RedisSource) {
            self.source = source
        }

        /// The connection to `node`, opened if needed; nil (logged) when it cannot be.
        private func connection(to node: RedisEndpoint) -> RedisConnection? {
            if let existing = connections[node] { return existing }
            do {
                let connection = try RedisConnection(source.configuration.url.on(node), clientName: "lookout-poller")
                connections[node] = connection
                return connection
            } catch {
                source.logger.debug("poller cannot reach a node", metadata: ["source": "\(source.name)", "node": "\(node)", "error": "\(error)"])
                return nil
            }
        }

        /// Runs `body` on `node`'s connection; a failure drops the connection (reopened next poll).
        func on<T>(_ node: RedisEndpoint, _ body: (RedisConnection) throws -> T) -> T? {
            guard let connection = connection(to: node) else { return nil }
            do {
                return try body(connection)
            } catch {
                connections[node] = nil
                source.logger.debug("poll of a node failed", metadata: ["source": "\(source.name)", "node": "\(node)", "error": "\(error)"])
                return nil
            }
        }

        /// Closes connections to nodes no longer in the topology.
        func keep(only nodes: [RedisEndpoint]) {
            let wanted = Set(nodes)
            for node in connections.keys where !wanted.contains(node) { connections[node] = nil }
        }
    }

    /// Polls every `pollInterval`, and sooner (at least 250 ms after the last poll, which bounds
    /// the load on Redis) when a subscription asked for it: the topology changed, or a new
    /// channel waits for its subscribers to be counted.
    func pollLoop() {
        let connections = NodeConnections(source: self)
        while !isStopping {
            shared.withLock { $0.refreshRequested = false }
            if shared.withLock({ $0.mergedInto != nil }) {
                connections.keep(only: [])
                sleep(.milliseconds(200))
                continue
            }
            poll(connections)
            sleep(.milliseconds(250))
            sleep(configuration.pollInterval - .milliseconds(250), orUntil: { shared.withLock { $0.refreshRequested } })
        }
    }

    /// One poll: the topology, probes, then subscriber counts summed over the nodes.
    private func poll(_ connections: NodeConnections) {
        let generation = shared.withLock { state in
            state.pollGeneration += 1
            return state.pollGeneration
        }
        let topology = readTopology(connections)
        guard shared.withLock({ $0.mergedInto == nil }) else { return }
        connections.keep(only: topology.nodes.map(\.endpoint) + configuration.url.seeds)
        let nodes = topology.nodes.isEmpty ? configuration.url.seeds : topology.nodes.map(\.endpoint)
        let expired = shared.withLock { $0.presence.expired(at: monotonicSeconds(), timeout: liveness.timeout) }
        for observation in expired { queue.offer(observation) }

        let channels = shared.withLock { Array($0.seenChannels) }
        var numsub: [String: Int] = [:]
        var patterns = 0
        // Pattern subscriptions of clients other than a Lookout monitor (this one or another
        // Lookout's), from CLIENT LIST; nil where a node would not list its clients.
        var foreignPatterns: Int? = 0
        var ownOutput = 0
        var named: Set<String> = []
        var namedOutput: [String: Int] = [:]
        var reached = 0
        for node in nodes {
            let polled: Bool? = connections.on(node) { connection in
                for (channel, count) in try Self.counts(connection, ["PUBSUB", "NUMSUB"], channels) { numsub[channel, default: 0] += count }
                if case .integer(let count) = try connection.command(["PUBSUB", "NUMPAT"]) { patterns += Int(count) }
                if let text = try connection.command(["CLIENT", "LIST", "TYPE", "pubsub"]).text {
                    let entries = ClientListEntry.parse(text)
                    ownOutput += entries.first { $0.name == "lookout-monitor" }?.outputMemory ?? 0
                    foreignPatterns? += entries.filter { $0.name != "lookout-monitor" }.map(\.patternSubscriptions).reduce(0, +)
                    for entry in entries where !entry.name.isEmpty && !entry.name.hasPrefix("lookout-") && entry.subscriptions > 0 {
                        named.insert(entry.name)
                        namedOutput[entry.name, default: 0] += entry.outputMemory
                    }
                } else {
                    foreignPatterns = nil
                }
                return true
            }
            if polled == true { reached += 1 }
        }
        // After CLIENT LIST: the presence it showed is released when this probe is back.
        let fence = publishProbes(connections, topology)
        if topology.isCluster { pollClusterInfo(connections, topology) }
        // Counts summed over only some nodes would make channels look unserved: keep the last
        // complete ones until every node answers again.
        guard reached == nodes.count else { return }
        let (shardChannels, shardNumsub) = pollShardChannels(connections, topology)
        let completedAt = monotonicSeconds()

        let (previous, previousNumsub) = shared.withLock { state in
            defer {
                state.lastCompletePoll = completedAt
                state.namedSubscribers = named
                state.namedOutput = namedOutput
                state.numsub = numsub
                // NUMPAT counts distinct patterns, so another client's `*` would hide behind
                // Lookout's own: CLIENT LIST's per-client counts are exact where allowed.
                state.otherPatterns = foreignPatterns ?? max(0, patterns - (state.patternSubscribed ? subscriptionPatterns.count : 0))
                if state.shardChannels != shardChannels {
                    state.shardChannels = shardChannels
                    state.planVersion += 1
                }
                // A count taken before Lookout's own subscription would read one subscriber as
                // Lookout alone: such channels are not judged until the next poll.
                state.shardNumsub = shardNumsub.filter { channel, _ in state.shardHeldSince[channel].map { $0 < generation } ?? false }
            }
            return (state.namedSubscribers, state.numsub)
        }
        outputBuffer.set(Int64(ownOutput))
        let now = wallClockSeconds()
        var presence: [Observation] = named.subtracting(previous ?? []).map {
            .namedConnection(name: $0, subscribed: true, reason: "", at: now)
        }
        let gone = (previous ?? []).subtracting(named)
        // CLIENT LIST does not say which channels a client held: those that lost subscribers
        // since the last poll are what the departed named clients held.
        let emptied = numsub.filter { channel, count in count < previousNumsub[channel] ?? 0 }.keys
        for name in gone {
            presence.append(.namedConnection(name: name, subscribed: false, reason: "named subscriber \(name) is no longer subscribed on Redis",
                                             left: ConnectionSubscriptions(channels: emptied), at: now))
        }
        guard !presence.isEmpty else { return }
        if let fence {
            shared.withLock { $0.presence.park(presence, behindProbeSentAt: fence, at: monotonicSeconds()) }
        } else {
            for observation in presence { queue.offer(observation) }
        }
    }

    /// The classic probe (PUBLISH on `lookout:probe`, through the first primary) and one sharded
    /// probe per shard (SPUBLISH on the shard's own probe channel, through its primary): each
    /// comes back on a subscription and proves that part of the deployment delivers.
    /// Returns the classic probe's `sentAt` when the pattern subscription will bring it back.
    private func publishProbes(_ connections: NodeConnections, _ topology: ClusterTopology) -> Double? {
        let sentAt = wallClockSeconds()
        let first = topology.shards.first?.primary?.endpoint ?? configuration.url.seeds[0]
        // Awaited before it is sent (the subscription may see it before PUBLISH returns): the
        // pattern subscription must bring it back within the link timeout.
        let now = monotonicSeconds()
        let subscribed = shared.withLock { state in
            state.probes.sending(sentAt: sentAt, at: now, subscribed: state.patternSubscribed)
            return state.patternSubscribed
        }
        let published = connections.on(first) { try $0.command(["PUBLISH", configuration.probeChannel, "\(probeID) \(sentAt)"]) }
        var fence: Double? = subscribed ? sentAt : nil
        if case .integer? = published {} else {
            shared.withLock { $0.probes.notPublished(sentAt: sentAt) }
            fence = nil
        }
        guard connections.shardedPubSub else { return fence }
        for (index, shard) in topology.shards.enumerated() {
            guard let primary = shard.primary, let channel = topology.probeChannel(configuration.probeChannel, shard: index) else { continue }
            let reply = connections.on(primary.endpoint) { try $0.command(["SPUBLISH", channel, "\(probeID) \(sentAt) \(index)"]) }
            if case .error(let message)? = reply, message.lowercased().contains("unknown command") {
                logger.notice("no sharded pub/sub on this Redis (before 7.0): no shard probes", metadata: ["source": "\(name)"])
                connections.shardedPubSub = false
                return fence
            }
        }
        return fence
    }

    /// `CLUSTER SHARDS` (or `CLUSTER SLOTS` where that is missing or not allowed) from a seed or
    /// any node known, or a plain Redis when cluster support is off; a change is counted and
    /// logged with what changed.
    private func readTopology(_ connections: NodeConnections) -> ClusterTopology {
        let known = shared.withLock { $0.topology }
        var read: ClusterTopology?
        for node in candidateNodes where read == nil {
            read = connections.on(node) { try $0.readTopology(node) } ?? nil
        }
        defer { shared.withLock { $0.topologyTried = true } }
        guard let topology = read else { return known }
        if topology.isCluster, let owner = configuration.claims.claim(name, nodes: Set(topology.shards.flatMap(\.nodes).map(\.endpoint))) {
            shared.withLock { $0.mergedInto = owner }
            up.set(Int64(1))
            logger.error("this URL names a node of a cluster another source already watches: its messages are counted there, once; give several nodes of one cluster as seeds of one URL (redis://a:7000,b:7001)", metadata: [
                "source": "\(name)", "watched by": "\(owner)",
            ])
            return topology
        }
        let changes = topology.changes(from: known)
        if topology != known {
            shared.withLock { state in
                state.topology = topology
                state.planVersion += 1
            }
            if !changes.isEmpty || topology.isCluster != known.isCluster {
                topologyChanges.increment()
                logger.notice("Redis topology", metadata: [
                    "source": "\(name)", "cluster": "\(topology.isCluster)", "shards": "\(topology.shards.count)",
                    "nodes": "\(topology.nodes.map(\.description).joined(separator: ","))", "changes": "\(changes.joined(separator: "; "))",
                ])
            }
        }
        return topology
    }

    /// Shard channels on every node of every shard (`PUBSUB SHARDCHANNELS`), and their
    /// subscribers summed over their shard's nodes (`PUBSUB SHARDNUMSUB`), Lookout's own
    /// included; plus each shard's probe channel, to be subscribed to but not counted.
    private func pollShardChannels(_ connections: NodeConnections, _ topology: ClusterTopology) -> ([String: Int], [String: Int]) {
        var channels: [String: Int] = [:]
        var subscribers: [String: Int] = [:]
        for (index, shard) in topology.shards.enumerated() {
            var found: Set<String> = []
            for node in shard.nodes where node.isHealthy {
                let names: [String]? = connections.on(node.endpoint) { connection in
                    guard case .array(let items) = try connection.command(["PUBSUB", "SHARDCHANNELS"]) else { return [] }
                    return items.compactMap(\.text)
                }
                found.formUnion(names ?? [])
            }
            let wanted = found.filter { !$0.hasPrefix(shardProbePrefix) && topology.shardIndex(forChannel: $0) == index && isWatched($0) }.sorted()
                .prefix(max(0, configuration.maxPolledChannels - channels.count))
            for channel in wanted { channels[channel] = index }
            for node in shard.nodes where node.isHealthy {
                let counts = connections.on(node.endpoint) { try Self.counts($0, ["PUBSUB", "SHARDNUMSUB"], Array(wanted)) } ?? [:]
                for (channel, count) in counts { subscribers[channel, default: 0] += count }
            }
        }
        if connections.shardedPubSub {
            for index in topology.shards.indices {
                if let probe = topology.probeChannel(configuration.probeChannel, shard: index) { channels[probe] = index }
            }
        }
        return (channels, subscribers)
    }

    /// Whether a channel falls inside the watch.
    func isWatched(_ channel: String) -> Bool {
        configuration.watch == ["*"] || configuration.watch.contains { GlobPattern.matches(pattern: $0, subject: channel) }
    }

    /// `CLUSTER INFO` on every node: whether it answers, the state it sees, its pub/sub bus
    /// traffic and the cluster links it freed over their buffer limit.
    private func pollClusterInfo(_ connections: NodeConnections, _ topology: ClusterTopology) {
        for node in topology.shards.flatMap(\.nodes) {
            let text = node.isHealthy ? connections.on(node.endpoint) { try $0.command(["CLUSTER", "INFO"]).text } ?? nil : nil
            clusterMetrics.record(node: node.description, info: text.map(ClusterInfo.init))
        }
    }

    /// A `PUBSUB NUMSUB`-shaped command over `channels`, 100 at a time: channel → count.
    private static func counts(_ connection: RedisConnection, _ command: [String], _ channels: [String]) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for start in stride(from: 0, to: channels.count, by: 100) {
            let batch = Array(channels[start..<min(start + 100, channels.count)])
            if case .array(let pairs) = try connection.command(command + batch) {
                for index in stride(from: 0, to: pairs.count - 1, by: 2) {
                    if let channel = pairs[index].text, case .integer(let count) = pairs[index + 1] { counts[channel] = Int(count) }
                }
            }
        }
        return counts
    }
}

/// The cluster bus as Prometheus sees it, per node (labels `source` and `node`; a cluster has a
/// bounded number of nodes). Redis reports absolute counters: each poll adds what they grew by.
final class ClusterBusMetrics: Sendable {
    private struct Series {
        let up: Gauge
        let stateOK: Gauge
        let publishSent: Counter
        let publishReceived: Counter
        let publishShardSent: Counter
        let publishShardReceived: Counter
        let linksDropped: Counter
        var last = ClusterInfo("")
    }

    private let registry: PrometheusCollectorRegistry
    private let source: String
    private let series = Mutex<[String: Series]>([:])

    init(registry: PrometheusCollectorRegistry, source: String) {
        self.registry = registry
        self.source = source
    }

    /// One node's poll: its `CLUSTER INFO`, or nil when it did not answer.
    func record(node: String, info: ClusterInfo?) {
        series.withLock { all in
            var entry = all[node] ?? makeSeries(node)
            entry.up.set(Int64(info == nil ? 0 : 1))
            if let info {
                if let ok = info.stateOK { entry.stateOK.set(Int64(ok ? 1 : 0)) }
                Self.add(info.publishSent, since: entry.last.publishSent, to: entry.publishSent)
                Self.add(info.publishReceived, since: entry.last.publishReceived, to: entry.publishReceived)
                Self.add(info.publishShardSent, since: entry.last.publishShardSent, to: entry.publishShardSent)
                Self.add(info.publishShardReceived, since: entry.last.publishShardReceived, to: entry.publishShardReceived)
                Self.add(info.linksBufferLimitExceeded, since: entry.last.linksBufferLimitExceeded, to: entry.linksDropped)
                entry.last = info
            }
            all[node] = entry
        }
    }

    /// Adds the growth of an absolute count; a count that went back (the node restarted) counts from 0.
    private static func add(_ value: UInt64?, since previous: UInt64?, to counter: Counter) {
        guard let value else { return }
        let growth = value >= (previous ?? 0) ? value - (previous ?? 0) : value
        if growth > 0 { counter.increment(by: Int64(clamping: growth)) }
    }

    private func makeSeries(_ node: String) -> Series {
        let labels = [("source", source), ("node", node)]
        func bus(_ kind: String, _ direction: String) -> Counter {
            registry.counter("lookout_cluster_bus_messages_total", labels: labels + [("kind", kind), ("direction", direction)],
                             help: "Pub/sub messages a cluster node sent or received over the cluster bus (CLUSTER INFO).")
        }
        return Series(
            up: registry.gauge("lookout_cluster_node_up", labels: labels, help: "1 when the cluster node answered the last poll."),
            stateOK: registry.gauge("lookout_cluster_state_ok", labels: labels,
                                    help: "1 when the node reports cluster_state:ok, 0 when it reports fail."),
            publishSent: bus("publish", "sent"), publishReceived: bus("publish", "received"),
            publishShardSent: bus("publishshard", "sent"), publishShardReceived: bus("publishshard", "received"),
            linksDropped: registry.counter("lookout_cluster_links_buffer_limit_exceeded_total", labels: labels,
                                           help: "Cluster links the node freed for exceeding cluster-link-sendbuf-limit: pub/sub messages queued on them were lost."))
    }
}
