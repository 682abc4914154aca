import LookoutCore
import Relay

/// Something the monitor watches: the embedded relay or a Redis server.
public protocol MonitoredSource: AnyObject, Sendable {
    /// How the source is named in metrics (`source` label), logs and `/readyz`.
    var name: String { get }
    /// Whether the source is connected and delivering.
    var isConnected: Bool { get async }
    /// Why the source is not ready (shown by `/readyz`), or nil when it is.
    var notReadyReason: String? { get async }
    /// Current subscribers per raw channel name (pattern subscribers not counted).
    func subscriberCounts() async -> [String: Int]
    /// Output not yet read by each named subscriber, in bytes.
    func namedSubscriberOutputBytes() async -> [String: Int]
}

extension MonitoredSource {
    public func namedSubscriberOutputBytes() async -> [String: Int] { [:] }

    public var notReadyReason: String? {
        get async { await isConnected ? nil : "not connected" }
    }
}

/// The embedded relay as a source: observations come through ``RelayTap``; subscriber counts
/// and the relay's own counters are read from the relay.
public final class RelaySource: MonitoredSource {
    public let relay: RelayServer
    public var name: String { "relay" }

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
