#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// A loopback TCP proxy in front of a server, for fault injection: it passes bytes through
/// until told to blackhole connections (nothing read, nothing forwarded, no FIN, no RST: a
/// network partition or a dead NAT entry as the endpoints see it), slow them down, or reset
/// them. A blackhole can be limited to connections whose client has sent given bytes (a client
/// name, a command), and holds for connections opened while it lasts.
package final class FaultProxy: @unchecked Sendable {
    // @unchecked: every mutable property is read and written on `loop` only (the control
    // methods hop onto it); `port`, `loop` and the channels are set once in init.

    /// One proxied connection: the client's channel, the upstream's, and what waits to be
    /// forwarded while it is held.
    private final class Link {
        let client: any Channel
        var upstream: (any Channel)?
        /// The first bytes the client sent (up to 4 KiB), for matching.
        var seen: [UInt8] = []
        var held = false
        var delay: TimeAmount = .zero
        var toUpstream: [ByteBuffer] = []
        var toClient: [ByteBuffer] = []

        init(client: any Channel) { self.client = client }
    }

    private enum Rule {
        case pass
        case blackhole(matching: [UInt8]?)
        case slow(TimeAmount)
    }

    /// The proxy's own port (set once, in init).
    package private(set) var port = 0
    private let upstreamPort: Int
    private let group: MultiThreadedEventLoopGroup
    private let loop: any EventLoop
    private var server: (any Channel)?
    private var links: [ObjectIdentifier: Link] = [:]
    private var rule = Rule.pass

    /// Listens on a free loopback port and forwards every connection to 127.0.0.1:`upstreamPort`.
    package init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelInitializer { [unowned(unsafe) self] channel in
                self.accepted(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
        let server = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        self.server = server
        port = server.localAddress?.port ?? 0
        guard port != 0 else { throw TestFailure("the fault proxy did not bind") }
    }

    deinit {
        // Not the blocking shutdown: the last reference may go on the proxy's own loop.
        group.shutdownGracefully { _ in }
    }

    /// Closes the listener and every connection.
    package func close() {
        _ = try? loop.submit {
            self.server?.close(promise: nil)
            for link in self.links.values {
                link.client.close(promise: nil)
                link.upstream?.close(promise: nil)
            }
        }.wait()
    }

    /// Passes every byte again; what was held is delivered in order.
    package func pass() async throws {
        try await apply(.pass)
    }

    /// Holds every connection whose client has sent `marker` (every connection when nil), now
    /// and for connections opened until ``pass()``.
    package func blackhole(matching marker: String? = nil) async throws {
        try await apply(.blackhole(matching: marker.map { Array($0.utf8) }))
    }

    /// Delays every chunk by `delay`, in both directions.
    package func slow(_ delay: Duration) async throws {
        let (seconds, attoseconds) = delay.components
        try await apply(.slow(.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)))
    }

    /// Resets every connection open now (RST to both ends); new ones pass.
    package func reset() async throws {
        try await loop.submit {
            for link in self.links.values {
                for channel in [link.client] + (link.upstream.map { [$0] } ?? []) {
                    // SO_LINGER 0: close sends RST instead of FIN.
                    let lingering = (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                        ?? channel.eventLoop.makeSucceededVoidFuture()
                    lingering.whenComplete { _ in channel.close(promise: nil) }
                }
            }
        }.get()
    }

    /// Connections open now.
    package func connectionCount() async throws -> Int {
        try await loop.submit { self.links.count }.get()
    }

    private func apply(_ rule: Rule) async throws {
        try await loop.submit {
            self.rule = rule
            for link in self.links.values { self.judge(link) }
        }.get()
    }

    /// Applies the rule to `link`: holds it, releases it, or sets its delay.
    private func judge(_ link: Link) {
        switch rule {
        case .pass:
            link.delay = .zero
            release(link)
        case .slow(let delay):
            link.delay = delay
            release(link)
        case .blackhole(let marker):
            link.delay = .zero
            if let marker, !contains(link.seen, marker) {
                release(link)
            } else {
                link.held = true
                link.client.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
                link.upstream?.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            }
        }
    }

    private func release(_ link: Link) {
        guard link.held || link.upstream != nil else { return }
        link.held = false
        if let upstream = link.upstream {
            for buffer in link.toUpstream { forward(buffer, to: upstream, after: link.delay) }
            link.toUpstream.removeAll()
            upstream.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
            upstream.read()
        }
        for buffer in link.toClient { forward(buffer, to: link.client, after: link.delay) }
        link.toClient.removeAll()
        link.client.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        link.client.read()
    }

    private func forward(_ buffer: ByteBuffer, to channel: any Channel, after delay: TimeAmount) {
        if delay == .zero {
            channel.writeAndFlush(buffer, promise: nil)
        } else {
            loop.scheduleTask(in: delay) { channel.writeAndFlush(buffer, promise: nil) }
        }
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    private func accepted(_ client: any Channel) {
        let link = Link(client: client)
        let key = ObjectIdentifier(client)
        links[key] = link
        let bound = NIOLoopBound(link, eventLoop: loop)
        try? client.pipeline.syncOperations.addHandler(Forwarder(proxy: self, link: link, fromClient: true))
        client.closeFuture.whenComplete { [weak self] _ in
            self?.links[key] = nil
            bound.value.upstream?.close(promise: nil)
        }
        ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.autoRead, value: false)
            .channelInitializer { [unowned(unsafe) self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Forwarder(proxy: self, link: bound.value, fromClient: false))
                }
            }
            .connect(host: "127.0.0.1", port: upstreamPort)
            .whenComplete { [weak self] result in
                guard let self else { return }
                let link = bound.value
                switch result {
                case .success(let upstream):
                    link.upstream = upstream
                    let client = link.client
                    upstream.closeFuture.whenComplete { _ in client.close(promise: nil) }
                    self.judge(link)
                    if !link.held { self.release(link) }
                case .failure:
                    link.client.close(promise: nil)
                }
            }
    }

    /// Bytes read on one side of `link`: forwarded to the other side, or held.
    private func received(_ buffer: ByteBuffer, on link: Link, fromClient: Bool) {
        if fromClient && link.seen.count < 4096 {
            link.seen += buffer.readableBytesView.prefix(4096 - link.seen.count)
            if !link.held { judge(link) }
        }
        if link.held || (fromClient && link.upstream == nil) {
            if fromClient { link.toUpstream.append(buffer) } else { link.toClient.append(buffer) }
            return
        }
        let target = fromClient ? link.upstream! : link.client
        forward(buffer, to: target, after: link.delay)
    }

    /// Hands what one side reads to the proxy.
    private final class Forwarder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private weak var proxy: FaultProxy?
        private let link: Link
        private let fromClient: Bool

        init(proxy: FaultProxy, link: Link, fromClient: Bool) {
            self.proxy = proxy
            self.link = link
            self.fromClient = fromClient
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            proxy?.received(unwrapInboundIn(data), on: link, fromClient: fromClient)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
