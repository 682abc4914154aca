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
