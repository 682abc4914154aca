/// Counters behind INFO and the monitor's relay metrics.
public struct RelayStatistics: Sendable, Hashable {
    public var connectionsReceived: UInt64 = 0
    public var rejectedConnections: UInt64 = 0
    public var commandsProcessed: UInt64 = 0
    public var messagesPublished: UInt64 = 0
    public var messagesDelivered: UInt64 = 0
    public var messagesUnrouted: UInt64 = 0
    public var slowSubscriberDisconnects: UInt64 = 0
    public var protocolErrors: UInt64 = 0
    /// Connections closed because their peer stopped answering TCP keep-alive probes.
    public var keepaliveDisconnects: UInt64 = 0
    /// Failed AUTH (and HELLO … AUTH) attempts, by reason.
    public var authFailures: [AuthFailure: UInt64] = [:]
    /// Failed logins whose reply was held back (a burst from one address).
    public var delayedLoginRefusals: UInt64 = 0
    public var connectedClients = 0
    public var channels = 0
    public var patterns = 0
    public var shardChannels = 0

    /// The counters' growth since `baseline` (sizes are kept as they are).
    func since(_ baseline: RelayStatistics) -> RelayStatistics {
        var grown = self
        grown.connectionsReceived -= min(connectionsReceived, baseline.connectionsReceived)
        grown.rejectedConnections -= min(rejectedConnections, baseline.rejectedConnections)
        grown.commandsProcessed -= min(commandsProcessed, baseline.commandsProcessed)
        grown.messagesPublished -= min(messagesPublished, baseline.messagesPublished)
        grown.messagesDelivered -= min(messagesDelivered, baseline.messagesDelivered)
        grown.messagesUnrouted -= min(messagesUnrouted, baseline.messagesUnrouted)
        grown.slowSubscriberDisconnects -= min(slowSubscriberDisconnects, baseline.slowSubscriberDisconnects)
        grown.protocolErrors -= min(protocolErrors, baseline.protocolErrors)
        grown.keepaliveDisconnects -= min(keepaliveDisconnects, baseline.keepaliveDisconnects)
        for (reason, count) in authFailures { grown.authFailures[reason] = count - min(count, baseline.authFailures[reason] ?? 0) }
        return grown
    }
}
