import Foundation
import LookoutCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Lookout beside a real 3-primary Redis Cluster, a maximal publisher on every primary at once:
/// classic PUBLISH (seen by one `PSUBSCRIBE *`) and sharded SPUBLISH (seen only by `SSUBSCRIBE`
/// on each shard). Lookout's counts are compared with plain hiredis subscribers' (one
/// `PSUBSCRIBE *`; per shard one `SSUBSCRIBE` per channel on its primary), with its reconnects
/// and the CPU it used per message.
enum ClusterBenchmark {
    /// One phase's figures; counts are per shard for sharded traffic, one total for classic.
    struct Result {
        var kind: String
        var published: Int
        var publishRate: Double
        var hiredisCounts: [Int]
        var lookoutCounts: [Int]
        var reconnects: Int
        var cpuMicrosecondsPerMessage: Double

        var equal: Bool { hiredisCounts == lookoutCounts && hiredisCounts.reduce(0, +) == published }
    }

    static func run(quick: Bool) throws -> [Result] {
        let nodes = try (0..<3).map { _ in try ServerProcess.redis(clusterNode: true) }
        defer { nodes.forEach { $0.stop() } }
        try createCluster(nodes)
        let ranges = try slotRanges(nodes[0])
        let lookout = try ServerProcess.lookout(["--no-relay", "--redis", "redis://127.0.0.1:\(nodes[0].port)", "--max-channels", "200"],
                                                name: "lookout-cluster", relay: false)
        defer { lookout.stop() }
        let metricsPort = lookout.metricsPort!
        let source = "redis://127.0.0.1:\(nodes[0].port)"
        try waitUntil(20, "Lookout watching the cluster") {
            try MonitorBenchmarks.scrape(metricsPort).contains("lookout_source_up{source=\"\(source)\"} 1")
        }
        progress("  cluster: 3 primaries, Lookout subscribed")
        let perPublisher = quick ? 100_000 : 500_000

        // Classic: 10 channels per primary, one hiredis PSUBSCRIBE * on the second node.
        let classicChannels = nodes.indices.map { node in (0..<10).map { "bench:c\(node).\($0)" } }
        let patternCounter = HiredisCounter(port: nodes[1].port)
        try patternCounter.start()
        let classic = try phase(kind: "classic PUBLISH", nodes: nodes, channels: classicChannels, command: "PUBLISH",
                                counters: [patternCounter], perPublisher: perPublisher, quick: quick, lookout: lookout) { counts in
            [counts.values.reduce(0, +)]
        }

        // Sharded: 10 shard channels in each primary's slots, counted by a subscriber on each.
        let shardChannels = try nodes.map { node in try channels(10, prefix: "bench:s", in: ranges[node.port] ?? []) }
        let shardCounters = zip(nodes, shardChannels).map { node, names in
            HiredisCounter(port: node.port, subscriptions: names.map { ["SSUBSCRIBE", $0] })
        }
        for counter in shardCounters { try counter.start() }
        // Lookout finds shard channels at its next poll and subscribes to each on its shard.
        for (node, names) in zip(nodes, shardChannels) {
            let connection = try WireConnection(port: node.port)
            try waitUntil(20, "Lookout subscribed to the shard channels") {
                let reply = try connection.call(["PUBSUB", "SHARDNUMSUB"] + names)
                return reply.components(separatedBy: ":2\r\n").count - 1 == names.count
            }
        }
        progress("  cluster: Lookout subscribed to \(shardChannels.joined().count) shard channels")
        let sharded = try phase(kind: "sharded SPUBLISH", nodes: nodes, channels: shardChannels, command: "SPUBLISH",
                                counters: shardCounters, perPublisher: perPublisher, quick: quick, lookout: lookout) { counts in
            shardChannels.map { names in names.reduce(0) { $0 + (counts[$1] ?? 0) } }
        }
        return [classic, sharded]
    }

    /// Every node's publisher at once, as fast as the node goes; then waits for the hiredis
    /// counters and for Lookout's count to settle.
    private static func phase(kind: String, nodes: [ServerProcess], channels: [[String]], command: String, counters: [HiredisCounter],
                              perPublisher: Int, quick: Bool, lookout: ServerProcess,
                              lookoutCounts: ([String: Int]) -> [Int]) throws -> Result {
        let cpuBefore = lookout.cpuSeconds
        let start = monotonicNanoseconds()
        let published = Mutex<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        let failures = Mutex<[String]>([])
        for (port, names) in zip(nodes.map(\.port), channels) {
            // Each publisher lives on its own thread, from its connection to its last reply.
            let thread = Thread {
                do {
                    let publisher = try Publisher(port: port, channels: names, payloadSize: 16, command: command)
                    let sent = try publisher.run(messages: perPublisher, seconds: quick ? 10 : 30)
                    published.withLock { $0.append(sent) }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
                done.signal()
            }
            thread.start()
        }
        for _ in nodes { done.wait() }
        if let failure = failures.withLock({ $0.first }) { throw BenchError("cluster publisher: \(failure)") }
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        let total = published.withLock { $0.reduce(0, +) }
        progress("  cluster: \(kind): published \(total)")
        // The counters together see every message once (one pattern counter, or one per shard).
        let counted = Date().addingTimeInterval(30)
        while counters.map(\.count).reduce(0, +) < total && Date() < counted { usleep(10_000) }
        for counter in counters { counter.wait(for: 0, seconds: 0) }
        let allChannels = channels.flatMap { $0 }
        var counts: [String: Int] = [:]
        var stable = 0
        let deadline = Date().addingTimeInterval(30)
        while stable < 3 && Date() < deadline {
            usleep(300_000)
            let now = try channelCounts(lookout.metricsPort!, channels: allChannels)
            stable = now == counts ? stable + 1 : 0
            counts = now
            if counts.values.reduce(0, +) == total { break }
        }
        let cpu = lookout.cpuSeconds - cpuBefore
        let metrics = try MonitorBenchmarks.scrape(lookout.metricsPort!)
        let reconnects = metrics.split(separator: "\n").first { $0.hasPrefix("lookout_source_reconnects_total{") }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }.map { Int($0) } ?? -1
        return Result(kind: kind, published: total, publishRate: Double(total) / seconds, hiredisCounts: counters.map(\.count),
                      lookoutCounts: lookoutCounts(counts), reconnects: reconnects,
                      cpuMicrosecondsPerMessage: cpu / Double(max(1, total)) * 1e6)
    }

    /// Joins the nodes into a cluster (all primaries) and waits for `cluster_state:ok` on each.
    private static func createCluster(_ nodes: [ServerProcess]) throws {
        let create = Process()
        create.executableURL = URL(fileURLWithPath: try executable("redis-cli"))
        create.arguments = ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-yes"]
        create.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        create.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try create.run()
        create.waitUntilExit()
        guard create.terminationStatus == 0 else { throw BenchError("redis-cli --cluster create failed") }
        for node in nodes {
            let connection = try WireConnection(port: node.port)
            try waitUntil(30, "cluster_state:ok") {
                let info = try connection.call(["CLUSTER", "INFO"])
                return info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:\(nodes.count)\r\n")
            }
        }
    }

    /// Each primary's slot ranges, by port, from `CLUSTER NODES` (`id ip:port@bus flags … 0-5460`).
    private static func slotRanges(_ node: ServerProcess) throws -> [Int: [ClosedRange<Int>]] {
        let text = try WireConnection(port: node.port).call(["CLUSTER", "NODES"])
        var ranges: [Int: [ClosedRange<Int>]] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ")
            guard fields.count > 8, fields[2].contains("master"),
                  let address = fields[1].split(separator: "@").first, let port = address.split(separator: ":").last.flatMap({ Int($0) })
            else { continue }
            for range in fields.dropFirst(8) {
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                if bounds.count == 2 { ranges[port, default: []].append(bounds[0]...bounds[1]) }
                if bounds.count == 1, !range.contains("[") { ranges[port, default: []].append(bounds[0]...bounds[0]) }
            }
        }
        return ranges
    }

    /// `count` shard channel names `prefix{n}` whose slots fall in `ranges`.
    private static func channels(_ count: Int, prefix: String, in ranges: [ClosedRange<Int>]) throws -> [String] {
        let names = (0..<1_000_000).lazy.map { "\(prefix){\($0)}" }
            .filter { name in ranges.contains { $0.contains(KeySlot.slot(of: Array(name.utf8))) } }.prefix(count)
        guard names.count == count else { throw BenchError("no shard channels found for \(ranges)") }
        return Array(names)
    }

    /// `lookout_channel_messages_total` for each of `channels`.
    private static func channelCounts(_ port: Int, channels: [String]) throws -> [String: Int] {
        let wanted = Dictionary(uniqueKeysWithValues: channels.map { ("lookout_channel_messages_total{channel=\"\($0)\"}", $0) })
        var counts: [String: Int] = [:]
        for line in try MonitorBenchmarks.scrape(port).split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let channel = wanted[String(parts[0])], let value = Double(parts[1]) else { continue }
            counts[channel] = Int(value)
        }
        return counts
    }

    private static func waitUntil(_ seconds: Double, _ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? condition()) == true { return }
            usleep(100_000)
        }
        throw BenchError("not within \(Int(seconds)) s: \(what)")
    }
}
