import Logging
import LookoutCore
import Synchronization

extension RedisSource {
    /// One node's shard subscription: its connection, the shard channels it holds, and the
    /// SSUBSCRIBE/SUNSUBSCRIBE sent whose answer has not come yet (Redis answers in order, so
    /// an error reply belongs to the oldest, and a `sunsubscribe` that answers none was pushed by
    /// Redis: the channel's slot moved).
    private struct ShardSubscription {
        enum Request: Equatable {
            case subscribe(String)
            case unsubscribe(String)
        }

        var connection: RedisConnection
        var liveness: LinkLiveness
        var channels: Set<String> = []
        var awaiting: [Request] = []
    }

    /// Refusals already logged: while a cluster is down every retry is refused the same way, and
    /// one line says it until the channel is subscribed again.
    private struct RefusalLog {
        private var logged: [String: String] = [:]

        /// True when this refusal of `channel` was not the last one logged for it.
        mutating func first(_ channel: String, _ reply: String) -> Bool {
            let kind = String(reply.prefix { $0 != " " })
            defer { logged[channel] = kind }
            return logged[channel] != kind
        }

        mutating func accepted(_ channel: String) { logged[channel] = nil }
    }

    /// Sharded pub/sub: Redis never delivers SPUBLISH to pattern subscribers, so every shard
    /// channel the poller found (and each shard's probe channel) is `SSUBSCRIBE`d, one command per
    /// channel (a command cannot span slots), on one node of the shard that owns it, as
    /// ``ShardSubscriptionPlan`` chooses. A pushed `sunsubscribe` (the slot moved), an error
    /// reply (`MOVED`: the topology is stale) or a lost connection drops what it concerns and asks
    /// the poller to read the topology again; the plan then puts the channels where they live now.
    /// A shard left without its subscription is a gap until it is back.
    func shardLoop() {
        var subscriptions: [RedisEndpoint: ShardSubscription] = [:]
        var holders: [Int: RedisEndpoint] = [:]
        var avoiding: Set<RedisEndpoint> = []
        var topology: ClusterTopology?
        var plannedVersion: UInt64?
        var needsReconcile = true
        var retryAt = ContinuousClock.now
        var refusals = RefusalLog()
        var tally = MessageTally(now: monotonicSeconds())
        defer { handOver(&tally, at: monotonicSeconds()) }
        while !isStopping {
            if standingBy() {
                subscriptions.removeAll()
                continue
            }
            // Reconciled when the poller's plan changed, or (at most every 250 ms) when the last
            // attempt was incomplete or a subscription changed: not for every batch of messages.
            let plan = shared.withLock { state in
                state.planVersion == plannedVersion && !(needsReconcile && ContinuousClock.now >= retryAt)
                    ? nil : (state.planVersion, state.topology, state.shardChannels)
            }
            if let (version, current, wanted) = plan {
                plannedVersion = version
                if current != topology {
                    avoiding.removeAll()
                    topology = current
                }
                needsReconcile = !reconcile(&subscriptions, &holders, topology: current, wanted: Set(wanted.keys), avoiding: &avoiding)
                retryAt = .now + .milliseconds(250)
            }
            guard !subscriptions.isEmpty else {
                sleep(.milliseconds(200))
                continue
            }
            let nodes = Array(subscriptions.keys)
            let results = read(nodes.map { subscriptions[$0]!.connection }, into: &tally)
            let now = monotonicSeconds()
            for (node, result) in zip(nodes, results) {
                if result.heard { subscriptions[node]!.liveness.heard(at: now) }
                let checked: Result<[RedisReply], RedisConnectionError> = result.failure.map { .failure($0) } ?? {
                    switch subscriptions[node]!.liveness.check(at: now) {
                    case .none: return .success(result.others)
                    case .ping:
                        return Result { () throws(RedisConnectionError) in
                            try subscriptions[node]!.connection.append(["PING"])
                            return result.others
                        }
                    case .declareDead(let silence):
                        return .failure(.silent(for: silence))
                    }
                }()
                switch checked {
                case .success(let replies):
                    if !replies.isEmpty, settle(&subscriptions[node]!, replies, node: node, &refusals) { needsReconcile = true }
                case .failure(let error):
                    handOver(&tally, at: now)
                    logger.warning("shard subscription lost", metadata: ["source": "\(name)", "node": "\(node)", "error": "\(error)"])
                    let silence = subscriptions[node].map { $0.liveness.silence(at: now) } ?? 0
                    if let lost = subscriptions.removeValue(forKey: node) { noteHeld(lost.channels, false) }
                    avoiding.insert(node)
                    for (index, holder) in holders where holder == node { linkLost(.shard(index), silentFor: silence) }
                    needsReconcile = true
                }
            }
        }
    }

    /// Matches replies to the requests awaiting them; true when a channel was dropped (by Redis,
    /// or refused) and must be placed again.
    private func settle(_ subscription: inout ShardSubscription, _ replies: [RedisReply], node: RedisEndpoint,
                        _ refusals: inout RefusalLog) -> Bool {
        var dropped = false
        for reply in replies {
            switch reply {
            case .error(let message):
                guard !subscription.awaiting.isEmpty else { continue }
                if case .subscribe(let channel) = subscription.awaiting.removeFirst() {
                    subscription.channels.remove(channel)
                    noteHeld([channel], false)
                    dropped = true
                    if refusals.first(channel, message) {
                        logger.notice("shard subscription refused; reading the topology again", metadata: [
                            "source": "\(name)", "node": "\(node)", "channel": "\(channel)", "reply": "\(message)",
                        ])
                    }
                    requestTopologyRefresh()
                }
            case .array(let parts) where parts.count == 3:
                guard let kind = parts[0].text, let channel = parts[1].text else { continue }
                if kind == "ssubscribe", subscription.awaiting.first == .subscribe(channel) {
                    subscription.awaiting.removeFirst()
                    noteHeld([channel], true)
                    refusals.accepted(channel)
                } else if kind == "sunsubscribe" {
                    noteHeld([channel], false)
                    if subscription.awaiting.first == .unsubscribe(channel) {
                        subscription.awaiting.removeFirst()
                    } else {
                        subscription.channels.remove(channel)
                        dropped = true
                        logger.notice("Redis unsubscribed a shard channel (its slot moved); reading the topology again", metadata: [
                            "source": "\(name)", "node": "\(node)", "channel": "\(channel)",
                        ])
                        requestTopologyRefresh()
                    }
                }
            default:
                continue
            }
        }
        return dropped
    }

    /// Carries out the plan: connects where a shard's subscription is to be, subscribes and
    /// unsubscribes, closes what is no longer needed, and keeps each shard's link in the
    /// coverage. False when something could not be done (to be tried again).
    private func reconcile(_ subscriptions: inout [RedisEndpoint: ShardSubscription], _ holders: inout [Int: RedisEndpoint],
                           topology: ClusterTopology, wanted: Set<String>, avoiding: inout Set<RedisEndpoint>) -> Bool {
        let plan = ShardSubscriptionPlan(topology: topology, wanted: wanted, current: subscriptions.mapValues(\.channels), avoiding: avoiding)
        for node in plan.close {
            if let closed = subscriptions.removeValue(forKey: node) { noteHeld(closed.channels, false) }
        }
        var complete = plan.unserved.isEmpty
        for index in plan.unserved { linkLost(.shard(index)) }
        for (index, node) in plan.holders.sorted(by: { $0.key < $1.key }) {
            do {
                if subscriptions[node] == nil {
                    subscriptions[node] = ShardSubscription(connection: try RedisConnection(configuration.url.on(node), clientName: "lookout-shard"),
                                                            liveness: LinkLiveness(liveness, now: monotonicSeconds()))
                }
                for channel in plan.subscribe[node] ?? [] {
                    try subscriptions[node]!.connection.append(["SSUBSCRIBE", channel])
                    subscriptions[node]!.channels.insert(channel)
                    subscriptions[node]!.awaiting.append(.subscribe(channel))
                }
                for channel in plan.unsubscribe[node] ?? [] {
                    try subscriptions[node]!.connection.append(["SUNSUBSCRIBE", channel])
                    subscriptions[node]!.channels.remove(channel)
                    subscriptions[node]!.awaiting.append(.unsubscribe(channel))
                }
                linkRestored(.shard(index))
            } catch {
                if let failed = subscriptions.removeValue(forKey: node) { noteHeld(failed.channels, false) }
                avoiding.insert(node)
                // Once per episode: while a node is down every retry fails the same way.
                if linkLost(.shard(index)) {
                    logger.warning("shard subscription cannot be made", metadata: ["source": "\(name)", "node": "\(node)", "error": "\(error)"])
                }
                complete = false
            }
        }
        // Shards that no longer need a subscription (no channels, or renumbered) are not missing.
        let needed = Set(plan.holders.keys).union(plan.unserved)
        for case .shard(let index) in shared.withLock({ $0.coverage.missing }) where !needed.contains(index) {
            linkRestored(.shard(index))
        }
        holders = plan.holders
        return complete
    }

    /// Notes which shard channels Lookout's subscriptions hold, for the poller's counts.
    private func noteHeld(_ channels: some Sequence<String>, _ held: Bool) {
        shared.withLock { state in
            for channel in channels {
                if held { state.shardHeldSince[channel] = state.pollGeneration } else { state.shardHeldSince[channel] = nil }
            }
        }
    }

    /// Asks the poller to read the topology now rather than at its next interval.
    func requestTopologyRefresh() {
        shared.withLock { $0.refreshRequested = true }
    }
}
