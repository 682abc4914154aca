import Testing

@testable import LookoutCore

@Suite struct ClusterTopologyTests {
    @Test func keySlotsAreRedisClusters() {
        #expect(KeySlot.slot(of: Array("foo".utf8)) == 12182)
        #expect(KeySlot.slot(of: Array("bar".utf8)) == 5061)
        #expect(KeySlot.slot(of: Array("somekey".utf8)) == 11058)
        #expect(KeySlot.slot(of: Array("{user1000}.following".utf8)) == KeySlot.slot(of: Array("{user1000}.followers".utf8)),
                "the hash tag decides")
        #expect(KeySlot.slot(of: Array("{}.x".utf8)) == Int(KeySlot.crc16(Array("{}.x".utf8)[...]) % 16384), "an empty tag is no tag")
        #expect(KeySlot.slot(of: Array("foo{bar".utf8)) == Int(KeySlot.crc16(Array("foo{bar".utf8)[...]) % 16384))
    }

    private func bulk(_ text: String) -> RedisReply { .bytes(Array(text.utf8)) }

    private func node(_ port: Int, role: String, health: String = "online") -> RedisReply {
        .array([bulk("id"), bulk("abc\(port)"), bulk("port"), .integer(Int64(port)), bulk("ip"), bulk("127.0.0.1"),
                bulk("endpoint"), bulk("127.0.0.1"), bulk("role"), bulk(role), bulk("replication-offset"), .integer(42),
                bulk("health"), bulk(health)])
    }

    @Test func parsesClusterShards() throws {
        let reply = RedisReply.array([
            .array([bulk("slots"), .array([.integer(5461), .integer(10922)]), bulk("nodes"),
                    .array([node(7002, role: "replica"), node(7001, role: "master")])]),
            .array([bulk("slots"), .array([.integer(0), .integer(5460)]), bulk("nodes"), .array([node(7000, role: "master")])]),
            .array([bulk("slots"), .array([.integer(10923), .integer(16000), .integer(16001), .integer(16383)]), bulk("nodes"),
                    .array([node(7003, role: "master"), node(7004, role: "replica", health: "fail")])]),
        ])
        let topology = try #require(ClusterTopology.parse(shards: reply, seedHost: "127.0.0.1"))
        #expect(topology.isCluster)
        #expect(topology.shards.map(\.primary?.port) == [7000, 7001, 7003], "ordered by slot, primaries known")
        #expect(topology.shards[1].nodes.map(\.port) == [7001, 7002], "the primary first")
        #expect(topology.nodes.map(\.port) == [7000, 7001, 7002, 7003], "the failed replica is not polled")
        #expect(topology.shardIndex(forSlot: 16383) == 2 && topology.shardIndex(forSlot: 0) == 0)
        #expect(topology.shardIndex(forChannel: "foo") == 2, "slot 12182")
        #expect(ClusterTopology.parse(shards: .error("ERR unknown"), seedHost: "x") == nil)

        var moved = topology
        moved.shards[1].nodes = [ClusterTopology.Node(host: "127.0.0.1", port: 7002), ClusterTopology.Node(host: "127.0.0.1", port: 7001, isPrimary: false)]
        #expect(moved.changes(from: topology) == ["127.0.0.1:7002 became a primary"])
        #expect(topology.changes(from: topology).isEmpty)
    }

    @Test func parsesClusterSlotsWhereShardsIsMissing() throws {
        func endpoint(_ ip: String, _ port: Int) -> RedisReply { .array([bulk(ip), .integer(Int64(port)), bulk("id\(port)")]) }
        let reply = RedisReply.array([
            .array([.integer(0), .integer(5460), endpoint("127.0.0.1", 7000), endpoint("127.0.0.1", 7003)]),
            .array([.integer(10923), .integer(16383), endpoint("", 7002)]),
            .array([.integer(5461), .integer(10000), endpoint("127.0.0.1", 7001)]),
            .array([.integer(10001), .integer(10922), endpoint("127.0.0.1", 7001)]),
        ])
        let topology = try #require(ClusterTopology.parse(slots: reply, seedHost: "seed"))
        #expect(topology.isCluster)
        #expect(topology.shards.map(\.primary?.port) == [7000, 7001, 7002])
        #expect(topology.shards[0].nodes.map(\.isPrimary) == [true, false], "the first node of a range is its primary")
        #expect(topology.shards[1].slots == [5461...10000, 10001...10922], "ranges of one primary are one shard")
        #expect(topology.shards[2].nodes.first?.host == "seed", "no address: the seed's host")
        #expect(ClusterTopology.parse(slots: .array([.array([.integer(9), .integer(1), endpoint("x", 1)])]), seedHost: "s") == nil,
                "a range that ends before it starts")
        #expect(ClusterTopology.parse(slots: .error("NOPERM"), seedHost: "s") == nil)
    }

    @Test func eachShardHasAProbeChannelOfItsOwn() throws {
        let topology = ClusterTopology(shards: [
            .init(slots: [0...5460], nodes: [.init(host: "h", port: 1)]),
            .init(slots: [5461...10922], nodes: [.init(host: "h", port: 2)]),
            .init(slots: [10923...16383], nodes: [.init(host: "h", port: 3)]),
        ], isCluster: true)
        let probes = try (0..<3).map { try #require(topology.probeChannel("lookout:probe", shard: $0)) }
        #expect(Set(probes).count == 3)
        for (index, probe) in probes.enumerated() {
            #expect(probe.hasPrefix("lookout:probe{"))
            #expect(topology.shardIndex(forChannel: probe) == index, "\(probe) lands in shard \(index)")
        }
        #expect(topology.probeChannel("lookout:probe", shard: 3) == nil)
        #expect(ClusterTopology.standalone(host: "h", port: 1).probeChannel("p", shard: 0) == "p{0}")
    }

    @Test func aPlainRedisIsOneShardWithEverySlot() {
        let topology = ClusterTopology.standalone(host: "127.0.0.1", port: 6379)
        #expect(!topology.isCluster && topology.nodes.count == 1)
        #expect(topology.shardIndex(forChannel: "anything") == 0)
    }
}

@Suite struct ClusterInfoTests {
    @Test func readsStateBusMessagesAndDroppedLinks() {
        let info = ClusterInfo("""
            cluster_enabled:1\r
            cluster_state:ok\r
            cluster_slots_assigned:16384\r
            cluster_stats_messages_publish_sent:120\r
            cluster_stats_messages_publish_received:7\r
            cluster_stats_messages_publishshard_sent:3\r
            cluster_stats_messages_publishshard_received:4\r
            total_cluster_links_buffer_limit_exceeded:2\r

            """)
        #expect(info.stateOK == true)
        #expect(info.publishSent == 120 && info.publishReceived == 7)
        #expect(info.publishShardSent == 3 && info.publishShardReceived == 4)
        #expect(info.linksBufferLimitExceeded == 2)
        let failing = ClusterInfo("cluster_state:fail\r\n")
        #expect(failing.stateOK == false && failing.publishSent == nil && failing.linksBufferLimitExceeded == nil)
    }
}

@Suite struct ShardSubscriptionPlanTests {
    private let a = RedisEndpoint(host: "h", port: 1), a2 = RedisEndpoint(host: "h", port: 11)
    private let b = RedisEndpoint(host: "h", port: 2), b2 = RedisEndpoint(host: "h", port: 12)

    /// Two shards, each a primary (1, 2) and a replica (11, 12).
    private func topology(healthy: Bool = true, bPrimary: RedisEndpoint? = nil) -> ClusterTopology {
        let bPrimary = bPrimary ?? b
        let bReplica = bPrimary == b ? b2 : b
        return ClusterTopology(shards: [
            .init(slots: [0...8191], nodes: [.init(a), .init(host: a2.host, port: a2.port, isPrimary: false)]),
            .init(slots: [8192...16383], nodes: [.init(bPrimary), .init(host: bReplica.host, port: bReplica.port, isPrimary: false, isHealthy: healthy)]),
        ], isCluster: true)
    }

    /// Channel names in shard 0 and shard 1 of `topology()`.
    private func channels(in shard: Int, _ count: Int) -> [String] {
        (0..<10_000).lazy.map { "c\($0)" }.filter { (KeySlot.slot(of: Array($0.utf8)) < 8192) == (shard == 0) }.prefix(count).map { $0 }
    }

    @Test func subscribesEachShardsChannelsOnAReplicaOfIt() {
        let (zero, one) = (channels(in: 0, 2), channels(in: 1, 1))
        let plan = ShardSubscriptionPlan(topology: topology(), wanted: Set(zero + one), current: [:])
        #expect(plan.subscribe == [a2: zero.sorted(), b2: one], "replicas keep the load off the primaries")
        #expect(plan.holders == [0: a2, 1: b2])
        #expect(plan.unsubscribe.isEmpty && plan.close.isEmpty && plan.unserved.isEmpty)
        #expect(ShardSubscriptionPlan(topology: topology(), wanted: Set(zero + one), current: [a2: Set(zero), b2: Set(one)]).isSettled)
    }

    @Test func keepsTheNodeItHoldsAndMovesOnlyWhatChanged() {
        let (zero, one) = (channels(in: 0, 3), channels(in: 1, 1))
        // Shard 0's channels are held on its primary (chosen earlier): they stay there.
        let plan = ShardSubscriptionPlan(topology: topology(), wanted: Set(zero.prefix(2) + one),
                                         current: [a: Set(zero.suffix(2)), b2: Set(one)])
        #expect(plan.holders[0] == a, "a subscription that moves can miss messages")
        #expect(plan.subscribe == [a: [zero[0]]])
        #expect(plan.unsubscribe == [a: [zero[2]]])
        #expect(plan.close.isEmpty)
        // Every channel of shard 1 gone: its subscription closes.
        let emptied = ShardSubscriptionPlan(topology: topology(), wanted: Set(zero), current: [a: Set(zero), b2: Set(one)])
        #expect(emptied.close == [b2] && emptied.holders.keys.sorted() == [0])
    }

    @Test func passesOverFailedNodesAndFollowsAFailover() {
        let one = channels(in: 1, 1)
        // The replica failed to connect: the primary serves until the topology is read again.
        let avoided = ShardSubscriptionPlan(topology: topology(), wanted: Set(one), current: [:], avoiding: [b2])
        #expect(avoided.subscribe == [b: one])
        // The replica is marked failed: it is not used, avoided or not.
        #expect(ShardSubscriptionPlan(topology: topology(healthy: false), wanted: Set(one), current: [:]).holders == [1: b])
        // Every node avoided: try them anyway rather than serve nothing.
        #expect(ShardSubscriptionPlan(topology: topology(), wanted: Set(one), current: [:], avoiding: [b, b2]).holders == [1: b2])
        // After a failover the replica 12 is the primary and 2 its replica: a subscription held on
        // 12 stays, whatever its role now.
        let failedOver = ShardSubscriptionPlan(topology: topology(bPrimary: b2), wanted: Set(one), current: [b2: Set(one)])
        #expect(failedOver.isSettled && failedOver.holders == [1: b2])
        // A node that left the cluster is closed and its channels placed anew.
        let gone = RedisEndpoint(host: "h", port: 99)
        let moved = ShardSubscriptionPlan(topology: topology(), wanted: Set(one), current: [gone: Set(one)])
        #expect(moved.close == [gone] && moved.subscribe == [b2: one])
    }

    @Test func aShardWithoutAHealthyNodeIsUnserved() {
        var broken = topology()
        for index in broken.shards[1].nodes.indices { broken.shards[1].nodes[index].isHealthy = false }
        let plan = ShardSubscriptionPlan(topology: broken, wanted: Set(channels(in: 1, 2)), current: [:])
        #expect(plan.unserved == [1] && plan.subscribe.isEmpty)
    }
}

@Suite struct SourceCoverageTests {
    @Test func aGapRunsFromTheFirstLinkLostToTheLastBack() {
        var coverage = SourceCoverage<String>()
        #expect(coverage.isComplete)
        let first = coverage.lost("pattern", at: 10)
        let second = coverage.lost("shard 1", at: 12)
        let again = coverage.lost("pattern", at: 13)
        #expect(first, "the first loss starts the gap")
        #expect(!second, "a second loss is within it")
        #expect(!again, "a loss already known changes nothing")
        #expect(coverage.missing == ["pattern", "shard 1"] && !coverage.isComplete)
        let partly = coverage.restored("pattern", at: 14)
        #expect(partly == nil, "shard 1 is still missing")
        let gap = coverage.restored("shard 1", at: 17)
        #expect(gap?.start == 10 && gap?.end == 17)
        #expect(coverage.isComplete)
        let none = coverage.restored("shard 1", at: 18)
        #expect(none == nil, "a link that was not missing closes nothing")
        let next = coverage.lost("shard 2", at: 20)
        let nextGap = coverage.restored("shard 2", at: 20.5)
        #expect(next && nextGap?.start == 20 && nextGap?.end == 20.5)
    }
}
