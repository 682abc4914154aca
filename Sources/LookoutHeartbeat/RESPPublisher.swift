import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RESP

/// A minimal publishing connection to a Redis-protocol server (the relay or Redis): sends
/// PUBLISH (after AUTH when a password is set), drops the replies, reconnects when needed.
public actor RESPPublisher {
    public let host: String
    public let port: Int
    public let user: String?
    public let password: String?
    private let tls: NIOSSLContext?
    private var channel: (any Channel)?

    /// - Parameters:
    ///   - user: the ACL user AUTH names (with `password`); nil for the default user.
    ///   - tls: the client TLS context for a server that requires TLS; nil for plain TCP.
    public init(host: String, port: Int, user: String? = nil, password: String? = nil, tls: NIOSSLContext? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.tls = tls
    }

    /// Publishes `payload` on `channelName`; throws when the server cannot be reached.
    public func publish(_ payload: String, on channelName: String) async throws {
        let connection = try await connection()
        do {
            try await send(["PUBLISH", channelName, payload], on: connection)
        } catch {
            channel = nil
            throw error
        }
    }

    public func close() async {
        try? await channel?.close()
        channel = nil
    }

    private func connection() async throws -> any Channel {
        if let channel, channel.isActive { return channel }
        let (tls, host) = (self.tls, self.host)
        let serverName = (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
        let connected = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName)) }
                    try channel.pipeline.syncOperations.addHandler(DiscardReplies())
                }
            }
            .connect(host: host, port: port).get()
        if let password { try await send(user.map { ["AUTH", $0, password] } ?? ["AUTH", password], on: connected) }
        channel = connected
        return connected
    }

    private func send(_ words: [String], on channel: any Channel) async throws {
        var buffer = channel.allocator.buffer(capacity: 256)
        RESPRequest(arguments: words.map { ByteBuffer(string: $0) }).encode(into: &buffer)
        try await channel.writeAndFlush(buffer)
    }
}

/// Reads and drops the server's replies, so they never pile up.
private final class DiscardReplies: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
