/// What one node's `CLUSTER INFO` says about the cluster and its bus: the state, the pub/sub
/// messages it sent and received over the bus (classic PUBLISH is broadcast to every node,
/// SPUBLISH within the shard), and the cluster links Redis freed for exceeding
/// `cluster-link-sendbuf-limit` (the pub/sub messages queued on such a link are lost silently).
/// Pure; absent fields read as nil.
public struct ClusterInfo: Sendable, Hashable {
    public var stateOK: Bool?
    public var publishSent: UInt64?
    public var publishReceived: UInt64?
    public var publishShardSent: UInt64?
    public var publishShardReceived: UInt64?
    public var linksBufferLimitExceeded: UInt64?

    public init(_ text: String) {
        var fields: [Substring: Substring] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon]] = line[line.index(after: colon)...]
        }
        stateOK = fields["cluster_state"].map { $0 == "ok" }
        publishSent = fields["cluster_stats_messages_publish_sent"].flatMap { UInt64($0) }
        publishReceived = fields["cluster_stats_messages_publish_received"].flatMap { UInt64($0) }
        publishShardSent = fields["cluster_stats_messages_publishshard_sent"].flatMap { UInt64($0) }
        publishShardReceived = fields["cluster_stats_messages_publishshard_received"].flatMap { UInt64($0) }
        linksBufferLimitExceeded = fields["total_cluster_links_buffer_limit_exceeded"].flatMap { UInt64($0) }
    }
}
