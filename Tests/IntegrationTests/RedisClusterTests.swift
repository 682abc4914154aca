#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LookoutCore
import LookoutTestSupport
import RESP
import Store
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
        _ = try await subscriber.call("SSUBSCRIBE", "shard.orders")
        // Lookout finds the shard channel at its next poll and subscribes to it too.
        try await waitUntil("Lookout subscribed to shard.orders") { try subscribers("shard.orders", port: redis.port, sharded: true) == 2 }
        try await waitForTwoPolls(lookout, source: source)
        let publisher = try TestConnection(port: redis.port)
        for i in 0..<3 { #expect(try await publisher.call("SPUBLISH", "shard.orders", "o\(i)") == .integer(2)) }
        try await waitUntil("3 sharded messages") {
            sample(try await scrape(lookout), #"lookout_channel_messages_total{channel="shard.orders"}"#) == 3
        }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, #"lookout_channel_subscribers{channel="shard.orders"}"#) == 1, "Lookout's own subscription left out")
        #expect(sample(metrics, #"lookout_channel_unrouted_messages_total{channel="shard.orders"}"#) == 0)
        #expect((sample(metrics, "lookout_probe_roundtrip_seconds_count{source=\"\(source)\",shard=\"0\"}") ?? 0) > 0,
                "the sharded probe comes back: sharded pub/sub delivers")
        #expect(sample(metrics, #"lookout_channel_messages_total{channel="lookout:probe{0}"}"#) == nil, "probes are not traffic")

        // The subscriber leaves: Lookout still sees the channel, and what it alone receives is lost.
        subscriber.close()
        if try await eventually(seconds: 20, { try subscribers("shard.orders", port: redis.port, sharded: true) == 1 }) == nil {
            throw TestFailure("the subscriber is not gone: \(try await TestConnection(port: redis.port).call("CLIENT", "LIST").string ?? "")")
        }
        try await waitForTwoPolls(lookout, source: source)
        for i in 0..<4 { _ = try await publisher.call("SPUBLISH", "shard.orders", "lost \(i)") }
        try await waitUntil("4 unrouted") {
            sample(try await scrape(lookout), #"lookout_channel_unrouted_messages_total{channel="shard.orders"}"#) == 4
        }
        #expect(sample(try await scrape(lookout), #"lookout_channel_messages_total{channel="shard.orders"}"#) == 7)
        try await lookout.stop()
    }

    @Test func onAClusterSubscribersOnOtherNodesCountAndEveryMessageIsSeenOnce() async throws {
        let cluster = try await RedisCluster.start(primaries: 3)
        let (node1, node2, node3) = (cluster.nodes[0], cluster.nodes[1], cluster.nodes[2])
        // Two seeds: the first answers nothing, so the cluster is found through the second.
        let source = "redis://127.0.0.1:\(try freeLoopbackPort()),127.0.0.1:\(node1.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source, "--no-db"])
        try await waitUntil("connected") { try await lookout.get("/readyz").status == 200 }

        // Classic: a subscriber on node 2 only; nobody on "nobody".
        let classic = try TestConnection(port: node2.port)
        _ = try await classic.call("SUBSCRIBE", "orders")
        // Sharded: one channel per shard, each with a subscriber on the node that owns it.
        let shardNodes = [node1, node2, node3]
        let shardChannels = try shardNodes.enumerated().map { try cluster.channel(on: $1, prefix: "shard\($0).") }
        var shardSubscribers: [TestConnection] = []
        for (channel, node) in zip(shardChannels, shardNodes) {
            let connection = try TestConnection(port: node.port)
            _ = try await connection.call("SSUBSCRIBE", channel)
            shardSubscribers.append(connection)
        }
        for (channel, node) in zip(shardChannels, shardNodes) {
            try await waitUntil("Lookout subscribed to \(channel)") { try subscribers(channel, port: node.port, sharded: true) == 2 }
        }
        // Prime the classic channels so the poller has summed their subscribers over the nodes.
        let publisher1 = try TestConnection(port: node1.port)
        _ = try await publisher1.call("PUBLISH", "orders", "prime")
        _ = try await publisher1.call("PUBLISH", "nobody", "prime")
        try await waitForTwoPolls(lookout, source: source)

        // 90 classic messages on each channel, a third through each primary.
        let publishers = try shardNodes.map { try TestConnection(port: $0.port) }
        for i in 0..<90 {
            _ = try await publishers[i % 3].call("PUBLISH", "orders", "o\(i)")
            _ = try await publishers[i % 3].call("PUBLISH", "nobody", "n\(i)")
        }
        // 30 sharded messages per shard channel, through the node that owns it.
        for (index, channel) in shardChannels.enumerated() {
            for i in 0..<30 { #expect(try await publishers[index].call("SPUBLISH", channel, "s\(i)") == .integer(2)) }
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
        // The priming message too when the poll that counted its channel came before its hand-over.
        #expect((90...91).contains(sample(metrics, #"lookout_channel_unrouted_messages_total{channel="nobody"}"#) ?? 0), "no subscriber on any node")
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
        for shard in 0..<3 {
            #expect((sample(metrics, "lookout_probe_roundtrip_seconds_count{source=\"\(source)\",shard=\"\(shard)\"}") ?? 0) > 0,
                    "shard \(shard) delivers its own probe")
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
        let cluster = try await RedisCluster.start(primaries: 3, replicas: 1)
        let seed = cluster.nodes[0]
        let source = "redis://127.0.0.1:\(seed.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source])
        func nodesUp(_ metrics: String) -> Int {
            metrics.split(separator: "\n").filter { $0.hasPrefix("lookout_cluster_node_up{") && $0.hasSuffix(" 1.0") }.count
        }
        func probes(_ metrics: String, shard: Int) -> Double {
            sample(metrics, "lookout_probe_roundtrip_seconds_count{source=\"\(source)\",shard=\"\(shard)\"}") ?? 0
        }
        try await waitUntil("six nodes polled") {
            let ready = try await lookout.get("/readyz").status == 200
            let metrics = try await scrape(lookout)
            return ready && nodesUp(metrics) == 6
        }
        let subscriber = try TestConnection(port: cluster.nodes[1].port)
        _ = try await subscriber.call("SUBSCRIBE", "orders")
        // A named consumer on the seed, and one that sends heartbeats through another node.
        var mailer = try TestConnection(port: seed.port)
        _ = try await mailer.call("CLIENT", "SETNAME", "mailer-1")
        _ = try await mailer.call("SUBSCRIBE", "mail")
        // Two heartbeating consumers, beating every 200 ms with a 1 s interval (late after 1.5 s
        // of silence): billing-1 through another node, ledger-1 through the seed, moving to
        // another node when the seed dies (as a cluster client does). Their beats go unseen
        // while the killed seed's subscription is made again: that is not their silence.
        let billing = try heartbeatLoop(ports: [cluster.nodes[2].port], consumer: "billing-1", intervalMilliseconds: 1_000)
        defer { billing.stop(signal: SIGKILL) }
        let ledger = try heartbeatLoop(ports: [seed.port, cluster.nodes[1].port], consumer: "ledger-1", intervalMilliseconds: 1_000)
        defer { ledger.stop(signal: SIGKILL) }
        try await waitUntil("the three consumers up") {
            let metrics = try await scrape(lookout)
            return sample(metrics, #"lookout_consumer_up{consumer="mailer-1",group=""}"#) == 1
                && sample(metrics, #"lookout_consumer_up{consumer="billing-1",group="billing"}"#) == 1
                && sample(metrics, #"lookout_consumer_up{consumer="ledger-1",group="billing"}"#) == 1
        }
        let publisher = try TestConnection(port: cluster.nodes[2].port)
        for i in 0..<10 { _ = try await publisher.call("PUBLISH", "orders", "before \(i)") }
        try await waitUntil("10 counted") { sample(try await scrape(lookout), #"lookout_channel_messages_total{channel="orders"}"#) == 10 }

        // The seed, which holds Lookout's pattern subscription, dies without a word; its named
        // consumer connects again to another node at once, as a cluster client does.
        await seed.child.stop(signal: SIGKILL)
        mailer = try TestConnection(port: cluster.nodes[1].port)
        _ = try await mailer.call("CLIENT", "SETNAME", "mailer-1")
        _ = try await mailer.call("SUBSCRIBE", "mail")
        try await waitUntil("resubscribed on another node") {
            let metrics = try await scrape(lookout)
            return sample(metrics, "lookout_source_reconnects_total{source=\"\(source)\"}") == 1
                && sample(metrics, "lookout_source_up{source=\"\(source)\"}") == 1
        }
        let metrics = try await scrape(lookout)
        #expect((sample(metrics, "lookout_source_gap_seconds_total{source=\"\(source)\"}") ?? 0) > 0, "the gap is recorded")
        for i in 0..<10 { _ = try await publisher.call("PUBLISH", "orders", "after \(i)") }
        try await waitUntil("counting goes on") { sample(try await scrape(lookout), #"lookout_channel_messages_total{channel="orders"}"#) == 20 }
        // The replica is promoted: the new topology is read from the surviving nodes, and the
        // dead primary's shard delivers its probes again through the new primary.
        let shardZeroProbes = probes(try await scrape(lookout), shard: 0)
        try await waitUntil(seconds: 30, "the failover seen") {
            (sample(try await scrape(lookout), "lookout_source_topology_changes_total{source=\"\(source)\"}") ?? 0) >= 2
        }
        try await waitUntil("shard 0 delivers again") { probes(try await scrape(lookout), shard: 0) >= shardZeroProbes + 2 }
        let after = try await scrape(lookout)
        #expect(sample(after, #"lookout_channel_unrouted_messages_total{channel="orders"}"#) == 0, "its subscriber on another node still counts")
        #expect(sample(after, #"lookout_consumer_up{consumer="mailer-1",group=""}"#) == 1)
        #expect(sample(after, #"lookout_consumer_up{consumer="billing-1",group="billing"}"#) == 1)
        #expect(sample(after, #"lookout_consumer_up{consumer="ledger-1",group="billing"}"#) == 1)
        await billing.stop(signal: SIGKILL)
        await ledger.stop(signal: SIGKILL)
        try await lookout.stop()

        // Nothing was alerted for consumers that merely reconnected or kept beating.
        let store = try StoreReader(path: try #require(lookout.databasePath))
        let changes = try store.transitions(since: 0, until: Double(Int32.max)).filter { $0.to != .up }
        #expect(changes.isEmpty, "\(changes.map { "\($0.consumer): \($0.from) → \($0.to) (\($0.reason))" })")
        let alerts = try store.alerts(since: 0, until: Double(Int32.max)).map(\.alert.name)
        #expect(!alerts.contains { $0.hasPrefix("LookoutConsumer") || $0.hasPrefix("LookoutGroup") }, "\(alerts)")
    }

    @Test func aShardChannelsSlotMovesToAnotherShardAndCountingStaysExact() async throws {
        let cluster = try await RedisCluster.start(primaries: 3)
        let (from, to) = (cluster.nodes[0], cluster.nodes[1])
        let source = "redis://127.0.0.1:\(from.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source, "--no-db"])
        let channel = try cluster.channel(on: from, prefix: "moving.")
        let slot = KeySlot.slot(of: Array(channel.utf8))
        let subscriber = try TestConnection(port: from.port)
        _ = try await subscriber.call("SSUBSCRIBE", channel)
        try await waitUntil("Lookout subscribed on the old shard") { try subscribers(channel, port: from.port, sharded: true) == 2 }
        let messages = "lookout_channel_messages_total{channel=\"\(channel)\"}"
        let publisherBefore = try TestConnection(port: from.port)
        for i in 0..<10 { #expect(try await publisherBefore.call("SPUBLISH", channel, "before \(i)") == .integer(2)) }
        try await waitUntil("10 counted") { sample(try await scrape(lookout), messages) == 10 }
        let changes = "lookout_source_topology_changes_total{source=\"\(source)\"}"
        let changesBefore = sample(try await scrape(lookout), changes) ?? 0

        // The slot moves to node 2's shard (no keys in it): importing, migrating, then owned by
        // node 2 everywhere. The old owner unsubscribes the channel's subscribers.
        guard let fromID = try await TestConnection(port: from.port).call("CLUSTER", "MYID").string,
              let toID = try await TestConnection(port: to.port).call("CLUSTER", "MYID").string else { throw TestFailure("no node ids") }
        #expect(try await TestConnection(port: to.port).call("CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", fromID) == .simpleString("OK"))
        #expect(try await TestConnection(port: from.port).call("CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", toID) == .simpleString("OK"))
        for node in [to, from, cluster.nodes[2]] {
            #expect(try await TestConnection(port: node.port).call("CLUSTER", "SETSLOT", "\(slot)", "NODE", toID) == .simpleString("OK"))
        }
        let pushed = try subscriber.read(until: { $0.elements?.first?.string == "sunsubscribe" }).values
        #expect(pushed.last?.elements?.dropFirst().first?.string == channel, "Redis unsubscribed the channel on the old shard")
        let moved = try TestConnection(port: to.port)
        _ = try await moved.call("SSUBSCRIBE", channel)

        try await waitUntil("Lookout subscribed on the new shard") { try subscribers(channel, port: to.port, sharded: true) == 2 }
        #expect(try subscribers(channel, port: from.port, sharded: true) == 0, "and holds nothing on the old one")
        #expect((sample(try await scrape(lookout), changes) ?? 0) > changesBefore, "the move is counted (and logged)")
        try await waitForTwoPolls(lookout, source: source)
        let publisherAfter = try TestConnection(port: to.port)
        for i in 0..<10 { #expect(try await publisherAfter.call("SPUBLISH", channel, "after \(i)") == .integer(2)) }
        try await waitUntil("10 more counted") { sample(try await scrape(lookout), messages) == 20 }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, "lookout_channel_subscribers{channel=\"\(channel)\"}") == 1)
        #expect(sample(metrics, "lookout_channel_unrouted_messages_total{channel=\"\(channel)\"}") == 0)
        #expect(sample(metrics, "lookout_source_up{source=\"\(source)\"}") == 1)
        try await lookout.stop()
    }

    @Test func twoURLsOfOneClusterAreWatchedOnce() async throws {
        let cluster = try await RedisCluster.start(primaries: 3)
        let urls = cluster.nodes.prefix(2).map { "redis://127.0.0.1:\($0.port)" }
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", urls[0], "--redis", urls[1], "--no-db"])
        let node = cluster.nodes[2]
        let shardChannel = try cluster.channel(on: node, prefix: "twice.")
        let subscriber = try TestConnection(port: node.port)
        _ = try await subscriber.call("SSUBSCRIBE", shardChannel)
        try await waitUntil("Lookout subscribed") { try subscribers(shardChannel, port: node.port, sharded: true) == 2 }
        let publishers = try cluster.nodes.map { try TestConnection(port: $0.port) }
        for i in 0..<30 { _ = try await publishers[i % 3].call("PUBLISH", "orders", "o\(i)") }
        for i in 0..<10 { #expect(try await publishers[2].call("SPUBLISH", shardChannel, "s\(i)") == .integer(2), "one Lookout subscription, not two") }
        try await waitUntil("every message counted") {
            let metrics = try await scrape(lookout)
            return sample(metrics, #"lookout_channel_messages_total{channel="orders"}"#) == 30
                && sample(metrics, "lookout_channel_messages_total{channel=\"\(shardChannel)\"}") == 10
        }
        // Whichever source found the cluster first probes it; the other watches nothing.
        func probes(_ metrics: String) -> [Double] { urls.map { sample(metrics, "lookout_probe_roundtrip_seconds_count{source=\"\($0)\"}") ?? 0 } }
        try await waitUntil("a probe back") { probes(try await scrape(lookout)).contains { $0 > 0 } }
        let before = probes(try await scrape(lookout))
        #expect(before.filter { $0 > 0 }.count == 1, "one source probes: \(before)")
        try await waitUntil("two more polls") { probes(try await scrape(lookout)).reduce(0, +) >= before.reduce(0, +) + 2 }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, #"lookout_channel_messages_total{channel="orders"}"#) == 30, "counted once, not twice")
        #expect(sample(metrics, "lookout_channel_messages_total{channel=\"\(shardChannel)\"}") == 10)
        #expect(try subscribers(shardChannel, port: node.port, sharded: true) == 2)
        for url in urls { #expect(sample(metrics, "lookout_source_up{source=\"\(url)\"}") == 1, "\(url)") }
        #expect(try await lookout.get("/readyz").status == 200)
        try await lookout.stop()
    }

    @Test func withoutClusterShardsTheTopologyComesFromClusterSlots() async throws {
        // A user refused CLUSTER SHARDS (as on Redis 6, which has none): CLUSTER SLOTS serves.
        let cluster = try await RedisCluster.start(primaries: 3)
        let rules = RedisACLTests.aclRules.filter { $0 != "+cluster|shards" } + ["+cluster|slots"]
        for node in cluster.nodes {
            let admin = try TestConnection(port: node.port)
            try admin.send(command: ["ACL", "SETUSER", "lookout"].map { Array($0.utf8) } + rules.map { Array($0.utf8) })
            #expect(try await admin.readValues(1).first == .simpleString("OK"))
        }
        let source = "redis://127.0.0.1:\(cluster.nodes[0].port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", "redis://lookout:lookout-secret@127.0.0.1:\(cluster.nodes[0].port)", "--no-db"])
        // A channel is known from its messages: the priming one must come after the subscription.
        try await waitUntil("the source ready") { try await lookout.get("/readyz").status == 200 }
        let subscriber = try TestConnection(port: cluster.nodes[2].port)
        _ = try await subscriber.call("SUBSCRIBE", "orders")
        let publisher = try TestConnection(port: cluster.nodes[1].port)
        _ = try await publisher.call("PUBLISH", "orders", "prime")
        try await waitForTwoPolls(lookout, source: source)
        try await waitUntil("the subscriber on node 3 counted") {
            sample(try await scrape(lookout), #"lookout_channel_subscribers{channel="orders"}"#) == 1
        }
        let metrics = try await scrape(lookout)
        #expect(sample(metrics, "lookout_source_topology_changes_total{source=\"\(source)\"}") == 1, "the cluster found")
        for node in cluster.nodes {
            #expect(sample(metrics, "lookout_cluster_node_up{source=\"\(source)\",node=\"127.0.0.1:\(node.port)\"}") == 1)
        }
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
        #expect(try await admin.readValues(1).first == .simpleString("OK"))
        let source = "redis://lookout:lookout-secret@127.0.0.1:\(redis.port)"
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", source, "--no-db"])
        let named = "redis://127.0.0.1:\(redis.port)"
        let subscriber = try TestConnection(port: redis.port)
        _ = try await subscriber.call("CLIENT", "SETNAME", "mailer-1")
        _ = try await subscriber.call("SUBSCRIBE", "orders")
        let sharded = try TestConnection(port: redis.port)
        _ = try await sharded.call("SSUBSCRIBE", "shard.orders")
        guard try await eventually(seconds: 20, {
            let reply = try TestConnection(port: redis.port).call("PUBSUB", "SHARDNUMSUB", "shard.orders")
            return reply.elements?.last == .integer(2)
        }) != nil else { throw TestFailure("Lookout did not subscribe to the shard channel") }
        let publisher = try TestConnection(port: redis.port)
        _ = try await publisher.call("PUBLISH", "orders", "o")
        _ = try await publisher.call("SPUBLISH", "shard.orders", "s")
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
        _ = try await denied.call("AUTH", "lookout", "lookout-secret")
        #expect(try await denied.call("SET", "k", "v").string?.hasPrefix("NOPERM") == true, "and nothing more")
        try await lookout.stop()
    }
}
