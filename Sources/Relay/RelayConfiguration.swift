import PubSubCore
import RESP

/// Settings of the embedded relay, with Redis's defaults where Redis has one.
public struct RelayConfiguration: Sendable, Hashable {
    /// Address to listen on (default 127.0.0.1).
    public var host: String
    /// Port to listen on (default 6380); 0 picks a free port.
    public var port: Int
    /// `requirepass`: when set, clients must AUTH (or HELLO … AUTH) before anything else.
    public var password: String?
    /// Most clients connected at once (Redis's `maxclients`, default 10,000).
    public var maxClients: Int
    /// `client-output-buffer-limit pubsub` (default `32mb 8mb 60`).
    public var outputBufferLimits: OutputBufferPolicy.Limits
    /// Request size limits (`proto-max-bulk-len` and friends).
    public var requestLimits: RESPRequestParser.Configuration
    /// Redis's `tcp-keepalive`: seconds a client's connection may idle before the system probes
    /// it (then every third of that, three times) so that a peer gone without a FIN or RST is
    /// found and its connection reaped; 0 turns it off. Default 300, as Redis.
    public var tcpKeepalive: Int
    /// Redis's `protected-mode`: on (the default), a relay with no password and no users refuses
    /// to listen anywhere but loopback.
    public var protectedMode = true
    /// ACL users. When there are any, the `default` user is off unless listed, and `password`
    /// is not used.
    public var users: [RelayUser] = []
    /// The TLS listener, or nil for plain text only.
    public var tls: RelayTLS?

    /// Whether a new connection may run commands before AUTH: only with no password and no users.
    var startsAuthenticated: Bool { password == nil && users.isEmpty }

    /// Whether `host` names only this machine: 127.0.0.0/8, ::1 or localhost.
    public static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "::1" || lowered == "0:0:0:0:0:0:0:1" { return true }
        let parts = lowered.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Why this relay must not start (protected mode): it would listen beyond this machine with
    /// nothing to keep strangers out. Nil when it may. A TLS listener that requires client
    /// certificates keeps strangers out by itself.
    public var unprotectedExposure: String? {
        guard protectedMode, password == nil, users.isEmpty else { return nil }
        var exposed: [String] = []
        if tls?.only != true && !Self.isLoopback(host) { exposed.append("\(host):\(port)") }
        if let tls, tls.authenticateClients != .yes, !Self.isLoopback(tls.host) { exposed.append("\(tls.host):\(tls.port) (TLS)") }
        guard !exposed.isEmpty else { return nil }
        return "the relay would listen on \(exposed.joined(separator: " and ")) with no password: anyone who can reach it could read and publish every event. "
            + "Set a password (--relay-password, LOOKOUT_RELAY_PASSWORD or relay.password) or users (relay.users), "
            + "require client certificates (--relay-tls-only with --tls-ca), listen on 127.0.0.1, "
            + "or, on a network you trust, turn protected mode off (--no-protected-mode or relay.protected_mode: false)"
    }

    public init(
        host: String = "127.0.0.1",
        port: Int = 6380,
        password: String? = nil,
        maxClients: Int = 10_000,
        outputBufferLimits: OutputBufferPolicy.Limits = .init(),
        requestLimits: RESPRequestParser.Configuration = .init(),
        tcpKeepalive: Int = 300
    ) {
        self.host = host
        self.port = port
        self.password = password
        self.maxClients = maxClients
        self.outputBufferLimits = outputBufferLimits
        self.requestLimits = requestLimits
        self.tcpKeepalive = tcpKeepalive
    }
}
