#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import RESP

/// The NIO handler of one relay connection: frames requests, runs them, and flushes at the end
/// of each read batch (its own replies and every subscriber its publishes reached).
final class RelayConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let core: RelayCore
    /// Whether the connection is plain TCP, whose output the relay may write to the socket itself.
    private let writesDirectly: Bool
    private var client: RelayClient?
    private var parser: RESPRequestParser
    private var received: ByteBuffer?
    /// The arguments of the request being run, reused from one request to the next.
    private var arguments: [ByteBuffer] = []

    /// Fired when a held-back login refusal has gone: run what the client sent meanwhile.
    struct ResumeAfterThrottle {}

    init(core: RelayCore, writesDirectly: Bool) {
        self.core = core
        self.writesDirectly = writesDirectly
        self.parser = RESPRequestParser(configuration: core.configuration.requestLimits)
    }

    func channelActive(context: ChannelHandlerContext) {
        core.assertOnLoop()
        guard let client = core.register(channel: context.channel, writesDirectly: writesDirectly) else {
            var refusal = context.channel.allocator.buffer(capacity: 40)
            refusal.writeString("-ERR max number of clients reached\r\n")
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(refusal)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        self.client = client
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let client {
            core.unregister(client)
            self.client = nil
        }
        received = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let client, !client.closing else { return }
        let bytes = unwrapInboundIn(data)
        if var pending = received, pending.readableBytes > 0 {
            received = nil  // keep the storage uniquely referenced while appending
            pending.writeImmutableBuffer(bytes)
            received = pending
        } else {
            received = bytes
        }
        client.lastInteraction = .now()
        if !context.channel.isWritable && !client.readsPaused {
            // Its replies back up: what it sent is run, and nothing more is read until they drain.
            client.readsPaused = true
            context.channel.setOption(.autoRead, value: false).whenFailure { _ in }
        }
        if client.throttled {
            // Kept, not run, until the refusal goes; and no more read meanwhile.
            context.channel.setOption(.autoRead, value: false).whenFailure { _ in }
            return
        }
        process(client)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ResumeAfterThrottle else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard let client, !client.closing, !client.throttled else { return }
        context.channel.setOption(.autoRead, value: !client.readsPaused).whenFailure { _ in }
        process(client)
        core.scheduleFlush(client)
        core.flushAllSoon()
    }

    private func process(_ client: RelayClient) {
        guard var buffer = received else { return }
        received = nil
        defer {
            if buffer.readableBytes > 0 {
                buffer.discardReadBytes()
                received = buffer
            }
        }
        while !client.closing && buffer.readableBytes > 0 {
            let before = buffer.readableBytes
            do {
                if try parser.next(&buffer, into: &arguments) {
                    core.execute(arguments, for: client)
                    if client.throttled {
                        client.channel.setOption(.autoRead, value: false).whenFailure { _ in }
                        return
                    }
                } else if buffer.readableBytes == before {
                    return
                }
            } catch {
                core.stats.protocolErrors += 1
                core.logger.debug("protocol error", metadata: ["client.id": "\(client.id)", "error": "\(error.message)"])
                client.push(RESPValue.error(error.replyLine).encoded(version: client.version))
                core.close(client)
                return
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let client { core.scheduleFlush(client) }
        core.flushAllSoon()
        context.fireChannelReadComplete()
    }

    /// A client whose own output piles up (it does not read its replies) is not read from until
    /// the backlog drains: TCP back-pressure keeps its memory bounded. Reading is paused when such
    /// a client sends (see `channelRead`), not when its output backs up: a subscriber that only
    /// receives costs no change of its socket's registration each time it falls behind.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let client, client.readsPaused, context.channel.isWritable {
            client.readsPaused = false
            if !client.throttled { context.channel.setOption(.autoRead, value: true).whenFailure { _ in } }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A peer that stopped answering keep-alive probes: the read fails with ETIMEDOUT.
        if let error = error as? IOError, error.errnoCode == ETIMEDOUT {
            core.stats.keepaliveDisconnects += 1
            core.logger.info("client reaped: it stopped answering TCP keep-alive probes", metadata: [
                "client.id": "\(client?.id ?? 0)", "address": "\(context.remoteAddress.map { "\($0)" } ?? "?")",
            ])
        }
        core.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
