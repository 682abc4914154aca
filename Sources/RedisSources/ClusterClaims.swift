import LookoutCore
import Synchronization

/// Which Redis source watches which Redis Cluster, shared by the sources of one application:
/// two `--redis` URLs that name nodes of the same cluster would otherwise count every message
/// twice. The first source to find a cluster keeps it; a later one whose cluster shares a node
/// with it is merged into it and watches nothing itself.
public final class ClusterClaims: Sendable {
    private let claims = Mutex<[(source: String, nodes: Set<RedisEndpoint>)]>([])

    public init() {}

    /// Claims the cluster made of `nodes` for `source`; returns the source that already watches
    /// it, or nil when `source` does.
    func claim(_ source: String, nodes: Set<RedisEndpoint>) -> String? {
        claims.withLock { claims in
            if let owner = claims.first(where: { $0.source != source && !$0.nodes.isDisjoint(with: nodes) }) { return owner.source }
            if let index = claims.firstIndex(where: { $0.source == source }) {
                claims[index].nodes = nodes
            } else {
                claims.append((source, nodes))
            }
            return nil
        }
    }
}
