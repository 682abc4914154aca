import Foundation
import LookoutCore
import Prometheus

import Store

/// A minute boundary: 2027-01-15T08:00:00Z.
package let t0: Int64 = 1_800_000_000

/// A fresh directory with a database path in it, removed at the end of the test.
package final class TemporaryDatabase {
    package let directory: String
    package var path: String { directory + "/lookout.db" }

    package init() {
        directory = NSTemporaryDirectory() + "lookout-store-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    package func writer(_ configure: (inout StoreWriter.Configuration) throws -> Void = { _ in }) throws -> (StoreWriter, PrometheusCollectorRegistry) {
        var configuration = StoreWriter.Configuration()
        try configure(&configuration)
        let registry = PrometheusCollectorRegistry()
        return (try StoreWriter(path: path, configuration: configuration, registry: registry), registry)
    }

    /// Files in the directory, with their contents' hash.
    package func listing() -> [String: Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return Dictionary(uniqueKeysWithValues: names.map { name in
            (name, (FileManager.default.contents(atPath: directory + "/" + name) ?? Data()).hashValue)
        })
    }
}

/// A bucket of `messages` messages of 10 bytes each, with latencies if given.
package func bucket(_ channel: String, at start: Int64, messages: UInt64, unrouted: UInt64 = 0, subscribers: Int = 1,
            latencies: [Double] = []) -> ChannelStatistics.Bucket {
    var digest = LatencyDigest()
    for latency in latencies { digest.record(latency) }
    return ChannelStatistics.Bucket(channel: channel, start: start, messages: messages, bytes: messages * 10, unrouted: unrouted,
                                    subscribers: subscribers, latency: digest)
}

package func consumer(_ name: String, group: String = "billing", state: ConsumerStateMachine.State, since: Double,
              lastHeartbeat: Double, processed: UInt64? = 10) -> HeartbeatTracker.ConsumerSnapshot {
    HeartbeatTracker.ConsumerSnapshot(consumer: name, group: group, detector: .init(
        state: state, stateSince: since, reason: state == .down ? "no heartbeat for 15s (interval 5s)" : "", lastHeartbeatAt: lastHeartbeat,
        interval: 5, processed: processed, failed: 0, channels: ["orders"], connectionOnly: false))
}

package func exposition(_ registry: PrometheusCollectorRegistry) -> String {
    String(decoding: registry.emitToBuffer(), as: UTF8.self)
}
