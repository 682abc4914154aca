import Foundation
import GracefulStop
import Logging
import LookoutHeartbeat
import NIOCore
import NIOPosix
import RESP
import Relay
import ServiceLifecycle

/// `lookout serve --demo`: synthetic publishers and consumers on the embedded relay, so every
/// panel and alert moves within a minute. `demo.orders` (two consumers in group
/// `demo-orders`, one of which dies for 45 s out of every 90 and comes back), `demo.payments`
/// (one consumer), and `demo.audit`, which nobody subscribes to (lost messages, and after the
/// alert hold a consumer-less channel alert). Real TCP clients, as any user's would be.
final class DemoTraffic: Service {
    private struct Consumer {
        var name: String
        var group: String
        var channel: String
        /// Seconds alive then seconds dead, repeating; nil never dies.
        var cycle: (alive: Double, dead: Double)?
    }

    private let host: String
    private let relay: RelayServer
    private let password: String?
    private let heartbeatChannel: String
    private let logger = Logger(label: "lookout.demo")
    private let consumers = [
        Consumer(name: "demo-orders-1", group: "demo-orders", channel: "demo.orders"),
        Consumer(name: "demo-orders-2", group: "demo-orders", channel: "demo.orders", cycle: (alive: 45, dead: 45)),
        Consumer(name: "demo-payments-1", group: "demo-payments", channel: "demo.payments"),
    ]

    init(relay: RelayServer, password: String?, heartbeatChannel: String) {
        let host = relay.configuration.host
        self.host = host == "0.0.0.0" ? "127.0.0.1" : (host == "::" ? "::1" : host)
        self.relay = relay
        self.password = password
        self.heartbeatChannel = heartbeatChannel
    }

    func run() async throws {
        // The relay runs beside the demo in the same group: wait until it is bound.
        while relay.boundPort == nil && !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard let port = relay.boundPort else { return }
        logger.notice("demo traffic on the relay: demo.orders, demo.payments, demo.audit; demo-orders-2 dies for 45 s every 90 s")
        await cancelWhenStopping {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.publish(port: port) }
                for consumer in self.consumers {
                    group.addTask { await self.consume(consumer, port: port) }
                }
            }
        }
    }

    /// Publishes on the three channels: orders at 10–30 msg/s on a slow wave, payments at 5,
    /// audit at 1.
    private func publish(port: Int) async {
        let publisher = RESPPublisher(host: host, port: port, password: password)
        let started = Date()
        var tick = 0
        while !Task.isCancelled {
            let elapsed = Date().timeIntervalSince(started)
            let ordersPerTick = Int((2 + sin(elapsed / 60 * .pi)).rounded())
            do {
                for index in 0..<ordersPerTick {
                    try await publisher.publish(#"{"order":\#(tick * 10 + index),"ts":\#(Int(Date().timeIntervalSince1970 * 1000))}"#, on: "demo.orders")
                }
                if tick % 2 == 0 { try await publisher.publish(#"{"payment":\#(tick)}"#, on: "demo.payments") }
                if tick % 10 == 0 { try await publisher.publish(#"{"audit":\#(tick)}"#, on: "demo.audit") }
            } catch {
                logger.debug("demo publish failed", metadata: ["error": "\(error)"])
            }
            tick += 1
            try? await Task.sleep(for: .milliseconds(100))
        }
        await publisher.close()
    }

    /// One consumer: a subscribed connection counting what it receives, and a heartbeat every
    /// second carrying that count. Dying means both stop at once, with no goodbye.
    private func consume(_ consumer: Consumer, port: Int) async {
        var configuration = HeartbeatSender.Configuration(consumer: consumer.name)
        configuration.group = consumer.group
        configuration.channels = [consumer.channel]
        configuration.interval = .seconds(1)
        let beats = HeartbeatSender(configuration: configuration)
        let publisher = RESPPublisher(host: host, port: port, password: password)
        while !Task.isCancelled {
            var subscription: (any Channel)?
            while subscription == nil && !Task.isCancelled {
                subscription = try? await subscribe(to: consumer.channel, port: port) { beats.recordProcessed() }
                if subscription == nil { try? await Task.sleep(for: .milliseconds(500)) }
            }
            let aliveUntil = Date().addingTimeInterval(consumer.cycle?.alive ?? .infinity)
            while !Task.isCancelled && Date() < aliveUntil {
                try? await publisher.publish(beats.payload(), on: heartbeatChannel)
                try? await Task.sleep(for: configuration.interval)
            }
            try? await subscription?.close()
            guard let cycle = consumer.cycle, !Task.isCancelled else { break }
            logger.notice("demo consumer died", metadata: ["consumer": "\(consumer.name)", "back in": "\(Int(cycle.dead)) s"])
            try? await Task.sleep(for: .seconds(cycle.dead))
        }
        // Shutting down is a clean stop, not a death: say goodbye.
        try? await publisher.publish(beats.payload(stopping: true), on: heartbeatChannel)
        await publisher.close()
    }

    private func subscribe(to channelName: String, port: Int, onMessage: @escaping @Sendable () -> Void) async throws -> any Channel {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(MessageCounter(onMessage: onMessage)) }
            }
            .connect(host: host, port: port).get()
        var buffer = channel.allocator.buffer(capacity: 64)
        let requests = (password.map { [["AUTH", $0]] } ?? []) + [["SUBSCRIBE", channelName]]
        for words in requests { RESPRequest(arguments: words.map { ByteBuffer(string: $0) }).encode(into: &buffer) }
        try await channel.writeAndFlush(buffer)
        return channel
    }
}

/// Calls `onMessage` for every pub/sub message a subscribed connection receives.
private final class MessageCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var pending = ByteBuffer()
    private let parser = RESPValueParser()
    private let onMessage: @Sendable () -> Void

    init(onMessage: @escaping @Sendable () -> Void) {
        self.onMessage = onMessage
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        pending.writeBuffer(&bytes)
        while let value = try? parser.next(&pending) {
            if case .array(let parts) = value, parts.count == 3, parts[0].string == "message" { onMessage() }
            if case .push(let parts) = value, parts.count == 3, parts[0].string == "message" { onMessage() }
        }
        pending.discardReadBytes()
    }
}
