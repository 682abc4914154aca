/// The channels Lookout itself uses on the bus, named once: consumers' heartbeats, the probes
/// that measure delivery on Redis, and the alerts Lookout publishes. Heartbeats and alerts can be
/// renamed in the configuration; these are the defaults.
public enum OwnChannels {
    public static let heartbeat = "lookout:heartbeat"
    public static let probe = "lookout:probe"
    public static let alerts = "lookout:alerts"
}
