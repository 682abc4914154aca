#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LookoutCore
import RESP

/// A real Redis Cluster on loopback: `primaries` redis-server processes with
/// `--cluster-enabled yes` (ports and their cluster bus ports, port + 10000, below the ephemeral
/// range: see ``freeClusterNodePort()``), joined by
/// `redis-cli --cluster create`, every slot assigned and `cluster_state:ok` on every node before
/// the initializer returns. Every node stops with the object.
package final class RedisCluster {
    package let nodes: [RedisServer]
    private let directory: String

    /// - Parameter replicas: replicas per primary (`redis-cli --cluster create` makes the first
    ///   `primaries` nodes the primaries).
    package init(primaries: Int = 3, replicas: Int = 0, seconds: Double = 30) throws {
        directory = NSTemporaryDirectory() + "lookout-cluster-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var nodes: [RedisServer] = []
        for index in 0..<(primaries * (1 + replicas)) {
            nodes.append(try RedisServer(extraArguments: [
                "--cluster-enabled", "yes", "--cluster-config-file", "\(directory)/nodes-\(index).conf",
                "--cluster-node-timeout", "2000", "--dir", directory,
            ], choosePort: freeClusterNodePort))
        }
        self.nodes = nodes
        let create = try runCommand(try executable("redis-cli"),
                                    ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "\(replicas)", "--cluster-yes"])
        guard create.status == 0 else { throw TestFailure("redis-cli --cluster create failed: \(create.output)") }
        let ready = blockingEventually(seconds: seconds) {
            nodes.allSatisfy { node in
                let info = (try? TestConnection(port: node.port).call("CLUSTER", "INFO").string) ?? ""
                return info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:\(nodes.count)\r\n")
            }
        }
        guard ready != nil else { throw TestFailure("the cluster did not reach cluster_state:ok within \(seconds)s") }
        // A replica reads as "loading" until its first sync is known to the cluster, and one that
        // never synced cannot be promoted: wait until CLUSTER SHARDS shows every node online.
        let synced = blockingEventually(seconds: seconds) {
            guard let shards = try? TestConnection(port: nodes[0].port).call("CLUSTER", "SHARDS").elements else { return false }
            let health = shards.flatMap { shard in
                (Self.field("nodes", of: shard)?.elements ?? []).map { Self.field("health", of: $0)?.string ?? "" }
            }
            return shards.count == primaries && health.count == nodes.count && health.allSatisfy { $0 == "online" }
        }
        guard synced != nil else { throw TestFailure("the cluster's nodes were not all online within \(seconds)s") }
    }

    /// The same, built on NIO's thread pool: creating a cluster blocks for seconds, and an async
    /// test must not hold one of the concurrency pool's threads (as many as cores) that long;
    /// the servers under test answer on that pool.
    package static func start(primaries: Int = 3, replicas: Int = 0) async throws -> RedisCluster {
        try await offThePool { try RedisCluster(primaries: primaries, replicas: replicas) }
    }

    /// The value after `key` in a flat `[key, value, …]` reply.
    private static func field(_ key: String, of reply: RESPValue) -> RESPValue? {
        guard let items = reply.elements, let index = stride(from: 0, to: items.count - 1, by: 2).first(where: { items[$0].string == key })
        else { return nil }
        return items[index + 1]
    }

    /// Slot ranges and the port of the primary serving each, from CLUSTER SLOTS (slots of
    /// names are computed by KeySlot, which `ClusterTopologyTests` checks against Redis's values).
    private func slotRanges() throws -> [(slots: ClosedRange<Int>, port: Int)] {
        guard let ranges = try TestConnection(port: nodes[0].port).call("CLUSTER", "SLOTS").elements else {
            throw TestFailure("no CLUSTER SLOTS")
        }
        return ranges.compactMap { range in
            guard let parts = range.elements, parts.count >= 3, let start = parts[0].number, let end = parts[1].number,
                  let port = parts[2].elements?[1].number else { return nil }
            return (start...end, port)
        }
    }

    /// A channel name in the shard of `node`: `prefix{n}` for the first `n` whose slot it owns.
    package func channel(on node: RedisServer, prefix: String) throws -> String {
        let owned = try slotRanges().filter { $0.port == node.port }.map(\.slots)
        for index in 0..<100_000 {
            let name = "\(prefix){\(index)}"
            let slot = KeySlot.slot(of: Array(name.utf8))
            if owned.contains(where: { $0.contains(slot) }) { return name }
        }
        throw TestFailure("no channel found for node \(node.port)")
    }

    /// Makes a stream `orders.{n}` on `node` with one entry, a group `billing` and a consumer
    /// `c1` holding that entry unacknowledged: every stream series then exists. Returns its key.
    @discardableResult
    package func streamWithPendingEntry(on node: RedisServer) throws -> String {
        let stream = try channel(on: node, prefix: "orders.")
        let client = try TestConnection(port: node.port)
        _ = try client.call("XADD", stream, "*", "n", "1")
        _ = try client.call("XGROUP", "CREATE", stream, "billing", "0")
        _ = try client.call("XREADGROUP", "GROUP", "billing", "c1", "COUNT", "1", "STREAMS", stream, ">")
        return stream
    }

    deinit {
        for node in nodes { node.stop() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension RESPValue {
    /// An integer reply's value.
    fileprivate var number: Int? {
        if case .integer(let value) = self { Int(value) } else { nil }
    }
}

/// A test uses its cluster from one task at a time; its servers are processes, and its
/// methods block on sockets of their own.
extension RedisCluster: @unchecked Sendable {}
