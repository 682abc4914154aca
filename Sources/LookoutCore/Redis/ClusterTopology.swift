/// A Redis deployment as the Redis source sees it: one node (a plain Redis), or the shards of a
/// Redis Cluster, each with its slot ranges and its nodes (primary first). Parsed from
/// `CLUSTER SHARDS` (Redis 7); pure.
public struct ClusterTopology: Sendable, Hashable {
    /// One node: where to connect, and what it is.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var isPrimary: Bool
        /// Nodes marked failed or still loading are left out of polling.
        public var isHealthy: Bool

        public init(host: String, port: Int, isPrimary: Bool = true, isHealthy: Bool = true) {
            self.host = host
            self.port = port
            self.isPrimary = isPrimary
            self.isHealthy = isHealthy
        }

        public init(_ endpoint: RedisEndpoint) {
            self.init(host: endpoint.host, port: endpoint.port)
        }

        /// Where it listens: what identifies a node across failovers (its role and health change).
        public var endpoint: RedisEndpoint { RedisEndpoint(host: host, port: port) }

        public var description: String { endpoint.description }
    }

    /// A primary and its replicas, serving a set of slots.
    public struct Shard: Sendable, Hashable {
        public var slots: [ClosedRange<Int>]
        /// The primary first, then the replicas.
        public var nodes: [Node]

        public init(slots: [ClosedRange<Int>], nodes: [Node]) {
            self.slots = slots
            self.nodes = nodes
        }

        public func owns(slot: Int) -> Bool { slots.contains { $0.contains(slot) } }
        public var primary: Node? { nodes.first { $0.isPrimary } }
    }

    public var shards: [Shard]
    /// Whether this is a Redis Cluster (false: one plain Redis, one shard owning every slot).
    public var isCluster: Bool

    public init(shards: [Shard], isCluster: Bool) {
        self.shards = shards
        self.isCluster = isCluster
    }

    /// A plain Redis: one node that serves every channel.
    public static func standalone(host: String, port: Int) -> ClusterTopology {
        ClusterTopology(shards: [Shard(slots: [0...(KeySlot.count - 1)], nodes: [Node(host: host, port: port)])], isCluster: false)
    }

    /// Every healthy node, primaries and replicas: where classic subscribers may be connected.
    public var nodes: [Node] { shards.flatMap { $0.nodes.filter(\.isHealthy) } }

    /// The index of the shard that owns `slot`.
    public func shardIndex(forSlot slot: Int) -> Int? { shards.firstIndex { $0.owns(slot: slot) } }

    /// The index of the shard that serves shard channel `channel`.
    public func shardIndex(forChannel channel: String) -> Int? { shardIndex(forSlot: KeySlot.slot(of: Array(channel.utf8))) }

    /// Parses a `CLUSTER SHARDS` reply (RESP2: each shard a flat `[key, value, …]` list with
    /// `slots` as `[start, end, start, end, …]` and `nodes` as such lists). `seed` stands in for a
    /// node that reports no usable address. Nil when the reply is not one.
    public static func parse(shards reply: RedisReply, seedHost: String) -> ClusterTopology? {
        guard case .array(let entries) = reply else { return nil }
        var shards: [Shard] = []
        for entry in entries {
            guard let fields = fieldMap(entry), case .array(let slotBounds)? = fields["slots"], case .array(let nodeEntries)? = fields["nodes"]
            else { return nil }
            var slots: [ClosedRange<Int>] = []
            for index in stride(from: 0, to: slotBounds.count - 1, by: 2) {
                guard case .integer(let start) = slotBounds[index], case .integer(let end) = slotBounds[index + 1], start <= end else { return nil }
                slots.append(Int(start)...Int(end))
            }
            var nodes: [Node] = []
            for nodeEntry in nodeEntries {
                guard let node = fieldMap(nodeEntry) else { return nil }
                let port: Int? = if case .integer(let value)? = node["port"] { Int(value) } else { node["port"]?.text.flatMap { Int($0) } }
                guard let port, port > 0 else { continue }
                let ip = node["ip"]?.text ?? ""
                let endpoint = node["endpoint"]?.text ?? ""
                let host = [endpoint, ip].first { !$0.isEmpty && $0 != "?" } ?? seedHost
                let role = node["role"]?.text ?? "master"
                let health = node["health"]?.text ?? "online"
                nodes.append(Node(host: host, port: port, isPrimary: role == "master" || role == "primary", isHealthy: health == "online"))
            }
            nodes.sort { $0.isPrimary && !$1.isPrimary }
            guard !nodes.isEmpty else { continue }
            shards.append(Shard(slots: slots, nodes: nodes))
        }
        return ClusterTopology(shards: shards.sorted { ($0.slots.first?.lowerBound ?? .max) < ($1.slots.first?.lowerBound ?? .max) }, isCluster: true)
    }

    /// Parses a `CLUSTER SLOTS` reply (`[start, end, [ip, port, id…], replicas…]` per slot range),
    /// for servers where `CLUSTER SHARDS` is missing or not allowed: ranges with the same primary
    /// form one shard. Redis leaves failed replicas out of it. Nil when the reply is not one.
    public static func parse(slots reply: RedisReply, seedHost: String) -> ClusterTopology? {
        guard case .array(let ranges) = reply else { return nil }
        var shards: [Shard] = []
        for range in ranges {
            guard case .array(let parts) = range, parts.count >= 3, case .integer(let start) = parts[0], case .integer(let end) = parts[1],
                  start <= end else { return nil }
            var nodes: [Node] = []
            for (position, entry) in parts.dropFirst(2).enumerated() {
                guard case .array(let fields) = entry, fields.count >= 2, case .integer(let port) = fields[1] else { return nil }
                guard port > 0 else { continue }
                let ip = fields[0].text ?? ""
                nodes.append(Node(host: ip.isEmpty || ip == "?" ? seedHost : ip, port: Int(port), isPrimary: position == 0))
            }
            guard let primary = nodes.first else { continue }
            if let index = shards.firstIndex(where: { $0.primary == primary }) {
                shards[index].slots.append(Int(start)...Int(end))
                for node in nodes where !shards[index].nodes.contains(node) { shards[index].nodes.append(node) }
            } else {
                shards.append(Shard(slots: [Int(start)...Int(end)], nodes: nodes))
            }
        }
        for index in shards.indices { shards[index].slots.sort { $0.lowerBound < $1.lowerBound } }
        return ClusterTopology(shards: shards.sorted { ($0.slots.first?.lowerBound ?? .max) < ($1.slots.first?.lowerBound ?? .max) }, isCluster: true)
    }

    /// A shard channel that lands in shard `index`: `base{n}` for the smallest such `n`, so each
    /// shard has a probe channel of its own; nil when the shard owns no slot.
    public func probeChannel(_ base: String, shard index: Int) -> String? {
        guard shards.indices.contains(index), !shards[index].slots.isEmpty else { return nil }
        for n in 0..<1_000_000 {
            let name = "\(base){\(n)}"
            if shards[index].owns(slot: KeySlot.slot(of: Array(name.utf8))) { return name }
        }
        return nil
    }

    /// `[key, value, key, value, …]` as a dictionary keyed by the text of the keys.
    private static func fieldMap(_ reply: RedisReply) -> [String: RedisReply]? {
        guard case .array(let items) = reply, items.count % 2 == 0 else { return nil }
        var fields: [String: RedisReply] = [:]
        for index in stride(from: 0, to: items.count, by: 2) {
            guard let key = items[index].text else { return nil }
            fields[key] = items[index + 1]
        }
        return fields
    }

    /// What changed from `old` to this topology, for the log; empty when nothing did.
    public func changes(from old: ClusterTopology) -> [String] {
        var changes: [String] = []
        let before = Set(old.nodes.map(\.description)), after = Set(nodes.map(\.description))
        for node in after.subtracting(before).sorted() { changes.append("node \(node) joined") }
        for node in before.subtracting(after).sorted() { changes.append("node \(node) left") }
        let primariesBefore = Set(old.shards.compactMap(\.primary?.description))
        for primary in Set(shards.compactMap(\.primary?.description)).subtracting(primariesBefore).sorted() where before.contains(primary) {
            changes.append("\(primary) became a primary")
        }
        if old.shards.map(\.slots) != shards.map(\.slots) { changes.append("slots moved") }
        return changes
    }
}

/// Redis Cluster's key slot of a key or shard channel: CRC16 (XMODEM) of the name, or of its
/// hash tag (the part between the first `{` and the next `}`, when not empty), modulo 16384.
public enum KeySlot {
    public static let count = 16_384

    public static func slot(of name: [UInt8]) -> Int {
        var key = name[...]
        if let open = name.firstIndex(of: UInt8(ascii: "{")),
           let close = name[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            key = name[(open + 1)..<close]
        }
        return Int(crc16(key) % UInt16(count))
    }

    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}
