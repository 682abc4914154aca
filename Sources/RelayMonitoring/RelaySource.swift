import LookoutCore
import Observations
import Relay

/// The embedded relay as a source: observations come through ``RelayTap``; subscriber counts
/// and the relay's own counters are read from the relay.
public final class RelaySource: MonitoredSource {
    public let relay: RelayServer
    /// The relay's name as a source (`source` label, `/readyz`).
    public static let sourceName = "relay"
    public var name: String { Self.sourceName }

    public init(relay: RelayServer) {
        self.relay = relay
    }

    public var isConnected: Bool {
        get async { await relay.isListening }
    }

    public func subscriberCounts() async -> [String: Int] {
        (try? await relay.channelSubscriberCounts()) ?? [:]
    }

    public func namedSubscriberOutputBytes() async -> [String: Int] {
        (try? await relay.namedSubscriberOutputBytes()) ?? [:]
    }
}
