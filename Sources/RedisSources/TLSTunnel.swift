#if canImport(Glibc)
import Glibc
#endif
import LookoutCore
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import TLSSupport

/// A TLS connection to Redis that hiredis uses as if it were a plain socket.
///
/// Debian's hiredis has no TLS, and every Redis link is a hiredis context that the sources poll
/// by descriptor. So a `rediss://` link is two parts: swift-nio-ssl's client connection to the
/// server, and a local socket pair whose one end an event loop bridges to it byte for byte; the
/// other end goes to hiredis (`redisConnectFd`). Everything above the descriptor — commands,
/// replies, `poll(2)`, timeouts — is the one code path plain links use.
///
/// Closing hiredis's end closes the TLS connection; the server closing it closes hiredis's end.
public enum TLSTunnel {
    /// Connects to `host:port`, completes the TLS handshake (checking the server's certificate
    /// unless `settings.verify` is off), and returns hiredis's end of the pair.
    /// - Throws: ``RedisConnectionError`` for the connection, ``TLSFileError`` for a certificate
    ///   file, each saying which and why.
    static func open(host: String, port: Int, settings: RedisTLSSettings, timeout: TimeAmount) throws -> Int32 {
        let sslContext = try NIOSSLContext(configuration: try clientConfiguration(settings))
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let handshake = loop.makePromise(of: Void.self)
        // SNI and name checks take a host name; for an address the certificate's IP SANs are
        // checked against the peer's address.
        let serverName = (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
        let remote: any Channel
        do {
            remote = try ClientBootstrap(group: loop)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.so_keepalive), value: 1)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                        try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(promise: handshake))
                    }
                }
                .connect(host: host, port: port).wait()
        } catch {
            handshake.fail(error)
            throw RedisConnectionError(description: "connect to \(host):\(port): \(error)")
        }
        let deadline = loop.scheduleTask(in: timeout) { handshake.fail(RedisConnectionError(description: "no TLS handshake within \(timeout)")) }
        do {
            try handshake.futureResult.wait()
            deadline.cancel()
        } catch {
            remote.close(promise: nil)
            throw RedisConnectionError(description: "TLS handshake with \(host):\(port) failed: \(error)")
        }

        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            remote.close(promise: nil)
            throw RedisConnectionError(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        do {
            let local = try ClientBootstrap(group: loop).withConnectedSocket(pair[0]).wait()
            try loop.submit {
                let (localEnd, remoteEnd) = TunnelGlue.pair()
                try local.pipeline.syncOperations.addHandler(localEnd)
                try remote.pipeline.syncOperations.addHandler(remoteEnd)
            }.wait()
        } catch {
            remote.close(promise: nil)
            close(pair[1])
            throw RedisConnectionError(description: "TLS link to \(host):\(port): \(error)")
        }
        return pair[1]
    }

    /// The client side's TLS settings: the CA (or the system's roots), the client certificate
    /// for mutual TLS, and verification.
    public static func clientConfiguration(_ settings: RedisTLSSettings) throws(TLSFileError) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caPath = settings.caPath {
            configuration.trustRoots = .certificates(try TLSFiles.certificates("CA", caPath))
        }
        if let certificatePath = settings.certificatePath, let keyPath = settings.keyPath {
            configuration.certificateChain = try TLSFiles.certificates("client certificate", certificatePath).map { .certificate($0) }
            configuration.privateKey = .privateKey(try TLSFiles.privateKey(keyPath))
        }
        if !settings.verify { configuration.certificateVerification = .none }
        return configuration
    }
}

/// Fulfils a promise when the TLS handshake completes, or fails it with why it did not.
private final class HandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<Void>

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? NIOTLS.TLSUserEvent { promise.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(RedisConnectionError(description: "the server closed the connection"))
        context.fireChannelInactive()
    }
}

/// One end of a byte bridge between two channels on the same event loop: what one reads, the
/// other writes. A partner that cannot keep up stops this side reading (back-pressure), and
/// either side closing closes both.
private final class TunnelGlue: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: TunnelGlue?
    private var context: ChannelHandlerContext?
    private var readPending = false

    static func pair() -> (TunnelGlue, TunnelGlue) {
        let first = TunnelGlue()
        let second = TunnelGlue()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    private var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let partnerContext = partner?.context else { return }
        partnerContext.write(partner!.wrapOutboundOut(unwrapInboundIn(data)), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReading() }
    }

    func read(context: ChannelHandlerContext) {
        if partner?.isWritable ?? false {
            context.read()
        } else {
            readPending = true
        }
    }

    private func resumeReading() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }
}
