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
