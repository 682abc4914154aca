import Foundation
import Logging
import NIOCore
import NIOPosix
import RESP
import ServiceLifecycle
import Synchronization

/// Sends Lookout heartbeats (contract v1) for a Swift consumer: add it to your `ServiceGroup`,
/// call ``recordProcessed(_:)`` and ``recordFailed(_:)`` as you work, and it publishes
/// `{"v":1,"consumer":…,"processed":…}` on `lookout:heartbeat` every interval, reconnecting as
/// needed; on graceful shutdown it says goodbye (`"state":"stopping"`) so no alert fires.
public final class HeartbeatSender: Service, Sendable {
    /// Who the consumer is and where to send.
    public struct Configuration: Sendable {
        public var consumer: String
        public var group: String?
        public var interval: Duration = .seconds(5)
        public var channels: [String] = []
        public var host = "127.0.0.1"
        public var port = 6380
        public var password: String?
        public var heartbeatChannel = "lookout:heartbeat"

        public init(consumer: String) {
            self.consumer = consumer
        }
    }

    public let configuration: Configuration
    private let processed = Atomic<UInt64>(0)
    private let failed = Atomic<UInt64>(0)
    private let sent = Atomic<Int>(0)
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "lookout.heartbeat")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Adds to the running count of processed messages.
    public func recordProcessed(_ count: UInt64 = 1) { processed.add(count, ordering: .relaxed) }
    /// Adds to the running count of failed messages.
    public func recordFailed(_ count: UInt64 = 1) { failed.add(count, ordering: .relaxed) }
    /// Heartbeats published so far.
    public var heartbeatsSent: Int { sent.load(ordering: .relaxed) }

    /// The JSON of one heartbeat.
    public func payload(stopping: Bool = false, now: Date = Date()) -> String {
        var fields: [String: Any] = [
            "v": 1, "consumer": configuration.consumer,
            "interval_ms": Int(configuration.interval.components.seconds * 1000 + configuration.interval.components.attoseconds / 1_000_000_000_000_000),
            "processed": processed.load(ordering: .relaxed), "failed": failed.load(ordering: .relaxed),
            "ts": Int(now.timeIntervalSince1970 * 1000),
        ]
        if let group = configuration.group { fields["group"] = group }
        if !configuration.channels.isEmpty { fields["channels"] = configuration.channels }
        if stopping { fields["state"] = "stopping" }
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    public func run() async throws {
        var channel: (any Channel)?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if channel == nil || channel?.isActive == false { channel = try await connect() }
                try await publish(payload(), on: channel!)
                sent.add(1, ordering: .relaxed)
            } catch {
                logger.warning("heartbeat not sent", metadata: ["error": "\(error)"])
                channel = nil
            }
            try? await Task.sleep(for: configuration.interval)
        }
        if let channel, channel.isActive {
            try? await publish(payload(stopping: true), on: channel)
            try? await channel.close()
        }
    }

    private func connect() async throws -> any Channel {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(DiscardReplies()) }
            }
            .connect(host: configuration.host, port: configuration.port).get()
        if let password = configuration.password {
            try await send(["AUTH", password], on: channel)
        }
        return channel
    }

    private func publish(_ payload: String, on channel: any Channel) async throws {
        try await send(["PUBLISH", configuration.heartbeatChannel, payload], on: channel)
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
