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
    /// Pattern subscriptions held by clients whose patterns the source cannot list (Redis tells
    /// only how many patterns exist, `PUBSUB NUMPAT`), Lookout's own left out; 0 for a source
    /// that knows who receives each message (the relay).
    var unattributedPatterns: Int { get async }
    /// Output not yet read by each named subscriber, in bytes.
    func namedSubscriberOutputBytes() async -> [String: Int]
    /// Reconnections and the last probe's round trip, for the status page.
    var details: SourceDetails { get async }
}

/// What the status page and the API show of a source besides whether it is ready.
public struct SourceDetails: Sendable, Hashable {
    /// Subscriptions made again after a lost connection.
    public var reconnects: UInt64
    /// The last probe's publish-to-receive time in seconds (Redis sources), nil before the first.
    public var probeRoundTrip: Double?

    public init(reconnects: UInt64 = 0, probeRoundTrip: Double? = nil) {
        self.reconnects = reconnects
        self.probeRoundTrip = probeRoundTrip
    }
}

extension MonitoredSource {
    public func namedSubscriberOutputBytes() async -> [String: Int] { [:] }
    public var unattributedPatterns: Int { get async { 0 } }
    public var details: SourceDetails { get async { SourceDetails() } }

    public var notReadyReason: String? {
        get async { await isConnected ? nil : "not connected" }
    }
}

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
