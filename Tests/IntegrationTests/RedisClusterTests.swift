#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LookoutTestSupport
import RESP
import Testing

/// Sidecar mode on sharded pub/sub and on a real 3-primary Redis Cluster (in process, loopback).
@Suite(.serialized) struct RedisClusterTests {
    private func sample(_ metrics: String, _ series: String) -> Double? { MonitorIntegrationTests.sample(metrics, series) }

    private func scrape(_ lookout: InProcessLookout) async throws -> String { try await lookout.get("/metrics").body }

    private func waitUntil(seconds: Double = 20, _ what: String, _ condition: () async throws -> Bool) async throws {
        guard try await eventually(seconds: seconds, condition) != nil else { throw TestFailure("not within \(seconds)s: \(what)") }
    }

    /// Waits for two more probes: a whole poll after everything done so far.
    private func waitForTwoPolls(_ lookout: InProcessLookout, source: String) async throws {
        let series = "lookout_probe_roundtrip_seconds_count{source=\"\(source)\"}"
        let probes = sample(try await scrape(lookout), series) ?? 0
        try await waitUntil("two more polls") { (sample(try await scrape(lookout), series) ?? 0) >= probes + 2 }
    }

    /// Subscribers of `channel` as Redis counts them on `port` (`SHARDNUMSUB` or `NUMSUB`).
    private func subscribers(_ channel: String, port: Int, sharded: Bool) throws -> Int {
        let reply = try TestConnection(port: port).call("PUBSUB", sharded ? "SHARDNUMSUB" : "NUMSUB", channel)
        guard case .integer(let count)? = reply.elements?.last else { return -1 }
        return Int(count)
    }

    @Test func shardedMessagesOnAPlainRedisAreCountedExactly() async throws {
        let redis = try RedisServer()
        let source = "redis://127.0.0.1:\(redis.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source, "--no-db"])
        let subscriber = try TestConnection(port: redis.port)
        _ = try subscriber.call("SSUBSCRIBE", "shard.orders")
        // Lookout finds the shard channel at its next poll and subscribes to it too.
        try await waitUntil("Lookout subscribed to shard.orders") { try subscribers("shard.orders", port: redis.port, sharded: true) == 2 }
        try await waitForTwoPolls(lookout, source: source)
        let publisher = try TestConnection(port: redis.port)
        for i in 0..<3 { #expect(try publisher.call("SPUBLISH", "shard.orders", "o\(i)") == .integer(2)) }
        try await waitUntil("3 sharded messages") {
            sample(try await scrape(lookout), #"lookout_channel_messages_total{channel="shard.orders"}"#) == 3
        }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, #"lookout_channel_subscribers{channel="shard.orders"}"#) == 1, "Lookout's own subscription left out")
        #expect(sample(metrics, #"lookout_channel_unrouted_messages_total{channel="shard.orders"}"#) == 0)

        // The subscriber leaves: Lookout still sees the channel, and what it alone receives is lost.
        subscriber.close()
        if try await eventually(seconds: 20, { try subscribers("shard.orders", port: redis.port, sharded: true) == 1 }) == nil {
            throw TestFailure("the subscriber is not gone: \(try TestConnection(port: redis.port).call("CLIENT", "LIST").string ?? "")")
        }
        try await waitForTwoPolls(lookout, source: source)
        for i in 0..<4 { _ = try publisher.call("SPUBLISH", "shard.orders", "lost \(i)") }
        try await waitUntil("4 unrouted") {
            sample(try await scrape(lookout), #"lookout_channel_unrouted_messages_total{channel="shard.orders"}"#) == 4
        }
        #expect(sample(try await scrape(lookout), #"lookout_channel_messages_total{channel="shard.orders"}"#) == 7)
        try await lookout.stop()
    }

    @Test func onAClusterSubscribersOnOtherNodesCountAndEveryMessageIsSeenOnce() async throws {
        let cluster = try RedisCluster(primaries: 3)
        let (node1, node2, node3) = (cluster.nodes[0], cluster.nodes[1], cluster.nodes[2])
        let source = "redis://127.0.0.1:\(node1.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source, "--no-db"])
        try await waitUntil("connected") { try await lookout.get("/readyz").status == 200 }

        // Classic: a subscriber on node 2 only; nobody on "nobody".
        let classic = try TestConnection(port: node2.port)
        _ = try classic.call("SUBSCRIBE", "orders")
        // Sharded: one channel per shard, each with a subscriber on the node that owns it.
        let shardNodes = [node1, node2, node3]
        let shardChannels = try shardNodes.enumerated().map { try cluster.channel(on: $1, prefix: "shard\($0).") }
        var shardSubscribers: [TestConnection] = []
        for (channel, node) in zip(shardChannels, shardNodes) {
            let connection = try TestConnection(port: node.port)
            _ = try connection.call("SSUBSCRIBE", channel)
            shardSubscribers.append(connection)
        }
        for (channel, node) in zip(shardChannels, shardNodes) {
            try await waitUntil("Lookout subscribed to \(channel)") { try subscribers(channel, port: node.port, sharded: true) == 2 }
        }
        // Prime the classic channels so the poller has summed their subscribers over the nodes.
        let publisher1 = try TestConnection(port: node1.port)
        _ = try publisher1.call("PUBLISH", "orders", "prime")
        _ = try publisher1.call("PUBLISH", "nobody", "prime")
        try await waitForTwoPolls(lookout, source: source)

        // 90 classic messages on each channel, a third through each primary.
        let publishers = try shardNodes.map { try TestConnection(port: $0.port) }
        for i in 0..<90 {
            _ = try publishers[i % 3].call("PUBLISH", "orders", "o\(i)")
            _ = try publishers[i % 3].call("PUBLISH", "nobody", "n\(i)")
        }
        // 30 sharded messages per shard channel, through the node that owns it.
        for (index, channel) in shardChannels.enumerated() {
            for i in 0..<30 { #expect(try publishers[index].call("SPUBLISH", channel, "s\(i)") == .integer(2)) }
        }
        try await waitUntil("every message counted") {
            let metrics = try await scrape(lookout)
            return sample(metrics, #"lookout_channel_messages_total{channel="orders"}"#) == 91
                && sample(metrics, #"lookout_channel_messages_total{channel="nobody"}"#) == 91
                && shardChannels.allSatisfy { sample(metrics, "lookout_channel_messages_total{channel=\"\($0)\"}") == 30 }
        }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, #"lookout_channel_subscribers{channel="orders"}"#) == 1, "the subscriber on node 2 is counted")
        #expect(sample(metrics, #"lookout_channel_unrouted_messages_total{channel="orders"}"#) == 0, "never lost: served on node 2")
        #expect(sample(metrics, #"lookout_channel_unrouted_messages_total{channel="nobody"}"#) == 90, "no subscriber on any node")
        for channel in shardChannels {
            #expect(sample(metrics, "lookout_channel_subscribers{channel=\"\(channel)\"}") == 1, "\(channel)")
            #expect(sample(metrics, "lookout_channel_unrouted_messages_total{channel=\"\(channel)\"}") == 0, "\(channel)")
        }
        #expect(sample(metrics, "lookout_source_up{source=\"\(source)\"}") == 1)
        #expect(sample(metrics, "lookout_source_topology_changes_total{source=\"\(source)\"}") == 1, "the cluster found once")
        for node in shardNodes {
            let labels = "source=\"\(source)\",node=\"127.0.0.1:\(node.port)\""
            #expect(sample(metrics, "lookout_cluster_node_up{\(labels)}") == 1)
            #expect(sample(metrics, "lookout_cluster_state_ok{\(labels)}") == 1)
        }
        // Each classic PUBLISH crossed the bus to the two other nodes, as the next polls show.
        func busSent(_ metrics: String) -> Double {
            metrics.split(separator: "\n").filter { $0.hasPrefix("lookout_cluster_bus_messages_total{") && $0.contains(#"kind="publish",direction="sent""#) }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        }
        try await waitUntil("the bus traffic polled") { busSent(try await scrape(lookout)) >= 2 * 182 }
        try await lookout.stop()
    }

    @Test func aKilledPrimaryIsFollowedAndTheGapRecorded() async throws {
        let cluster = try RedisCluster(primaries: 3, replicas: 1)
        let seed = cluster.nodes[0]
        let source = "redis://127.0.0.1:\(seed.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source, "--no-db"])
        func nodesUp(_ metrics: String) -> Int {
            metrics.split(separator: "\n").filter { $0.hasPrefix("lookout_cluster_node_up{") && $0.hasSuffix(" 1.0") }.count
        }
        try await waitUntil("six nodes polled") {
            let ready = try await lookout.get("/readyz").status == 200
            let metrics = try await scrape(lookout)
            return ready && nodesUp(metrics) == 6
        }
        let subscriber = try TestConnection(port: cluster.nodes[1].port)
        _ = try subscriber.call("SUBSCRIBE", "orders")
        let publisher = try TestConnection(port: cluster.nodes[2].port)
        for i in 0..<10 { _ = try publisher.call("PUBLISH", "orders", "before \(i)") }
        try await waitUntil("10 counted") { sample(try await scrape(lookout), #"lookout_channel_messages_total{channel="orders"}"#) == 10 }

        // The seed, which holds Lookout's pattern subscription, dies without a word.
        seed.child.stop(signal: SIGKILL)
        try await waitUntil("resubscribed on another node") {
            let metrics = try await scrape(lookout)
            return sample(metrics, "lookout_source_reconnects_total{source=\"\(source)\"}") == 1
                && sample(metrics, "lookout_source_up{source=\"\(source)\"}") == 1
        }
        let metrics = try await scrape(lookout)
        #expect((sample(metrics, "lookout_source_gap_seconds_total{source=\"\(source)\"}") ?? 0) > 0, "the gap is recorded")
        for i in 0..<10 { _ = try publisher.call("PUBLISH", "orders", "after \(i)") }
        try await waitUntil("counting goes on") { sample(try await scrape(lookout), #"lookout_channel_messages_total{channel="orders"}"#) == 20 }
        // The replica is promoted: the new topology is read from the surviving nodes.
        try await waitUntil(seconds: 30, "the failover seen") {
            (sample(try await scrape(lookout), "lookout_source_topology_changes_total{source=\"\(source)\"}") ?? 0) >= 2
        }
        #expect(sample(try await scrape(lookout), #"lookout_channel_unrouted_messages_total{channel="orders"}"#) == 0,
                "its subscriber on another node still counts")
        try await lookout.stop()
    }
}

/// Lookout as a least-privileged ACL user: exactly the line the README gives.
@Suite struct RedisACLTests {
    /// The README's line (Redis Cluster section), with the test's password.
    static let aclRules = [
        "on", ">lookout-secret", "resetchannels", "&*", "-@all",
        "+psubscribe", "+ssubscribe", "+sunsubscribe", "+publish", "+spublish",
        "+pubsub|numsub", "+pubsub|numpat", "+pubsub|shardchannels", "+pubsub|shardnumsub",
        "+client|list", "+client|setname", "+cluster|shards", "+cluster|info", "+ping",
    ]

    @Test func theReadmesACLUserIsEnough() async throws {
        let redis = try RedisServer()
        let admin = try TestConnection(port: redis.port)
        try admin.send(command: ["ACL", "SETUSER", "lookout"].map { Array($0.utf8) } + Self.aclRules.map { Array($0.utf8) })
        #expect(try admin.readValues(1).first == .simpleString("OK"))
        let source = "redis://lookout:lookout-secret@127.0.0.1:\(redis.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source, "--no-db"])
        let named = "redis://127.0.0.1:\(redis.port)"
        let subscriber = try TestConnection(port: redis.port)
        _ = try subscriber.call("CLIENT", "SETNAME", "mailer-1")
        _ = try subscriber.call("SUBSCRIBE", "orders")
        let sharded = try TestConnection(port: redis.port)
        _ = try sharded.call("SSUBSCRIBE", "shard.orders")
        guard try await eventually(seconds: 20, {
            let reply = try TestConnection(port: redis.port).call("PUBSUB", "SHARDNUMSUB", "shard.orders")
            return reply.elements?.last == .integer(2)
        }) != nil else { throw TestFailure("Lookout did not subscribe to the shard channel") }
        let publisher = try TestConnection(port: redis.port)
        _ = try publisher.call("PUBLISH", "orders", "o")
        _ = try publisher.call("SPUBLISH", "shard.orders", "s")
        let seen = await eventually(seconds: 20) {
            let metrics = (try? await lookout.get("/metrics").body) ?? ""
            return metrics.contains(#"lookout_channel_messages_total{channel="orders"} 1"#)
                && metrics.contains(#"lookout_channel_messages_total{channel="shard.orders"} 1"#)
                && metrics.contains(#"lookout_channel_subscribers{channel="orders"} 1"#)
                && metrics.contains(#"lookout_consumer_up{consumer="mailer-1",group=""} 1"#)
                && metrics.contains("lookout_probe_roundtrip_seconds_count{source=\"\(named)\"}")
        }
        #expect(seen != nil, "classic and sharded traffic, subscribers, named consumers and probes, with only these rights")
        #expect(try await lookout.get("/readyz").status == 200)
        let denied = try TestConnection(port: redis.port)
        _ = try denied.call("AUTH", "lookout", "lookout-secret")
        #expect(try denied.call("SET", "k", "v").string?.hasPrefix("NOPERM") == true, "and nothing more")
        try await lookout.stop()
    }
}
