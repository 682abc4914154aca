import NIOCore
import PubSubCore
import RESP

/// One connection to the relay: its identity, protocol state, subscriptions and pending output.
///
/// Lives on the relay's single event loop and is only touched there.
final class RelayClient: Hashable {
    let id: UInt64
    let channel: any Channel
    let remoteAddress: String
    /// The peer's IP address alone (failed logins are slowed per address).
    let remoteHost: String
    let localAddress: String
    let createdAt: NIODeadline
    var lastInteraction: NIODeadline
    var name = ""
    var libraryName = ""
    var libraryVersion = ""
    var version: RESPVersion = .resp2
    var authenticated: Bool
    /// The ACL user it runs as (`default` until AUTH names another).
    var user = "default"
    /// What channels that user may use; nil for every channel (no ACL users configured).
    var permissions: ChannelPermissions?
    /// Set by CLIENT REPLY OFF.
    var repliesOff = false
    /// Set by CLIENT REPLY SKIP for the command after it.
    var skipNextReply = false
    /// Whether the command running now was preceded by CLIENT REPLY SKIP.
    var replySkippedNow = false
    var lastCommand = "NULL"
    var closing = false
    /// A failed login's reply is being held back: nothing more it sent is run until it goes.
    var throttled = false

    var channels: Set<ByteBuffer> = []
    var patterns: Set<ByteBuffer> = []
    var shardChannels: Set<ByteBuffer> = []
    var subscriptionCount: Int { channels.count + patterns.count + shardChannels.count }

    /// Replies and messages written since the last flush; written to the socket in one go.
    let outbox = OutputBuffer()
    /// The socket the outbox may be written to directly (plain TCP), found once; nil for a TLS
    /// connection, whose output goes through its channel's pipeline, which encrypts it.
    let socket: (any NIOTransportAccessibleChannelCore<NIOBSDSocket.Handle>)?
    /// Reads are paused because its output backs up (it does not read its replies).
    var readsPaused = false
    /// Output was handed to the channel (what the socket did not take) that NIO may still hold:
    /// while everything goes straight to the socket, that is known without asking NIO.
    var outputInNIO = false
    var awaitingFlush = false
    /// Messages in the outbox waiting for their write, per channel, with when the first of them
    /// was accepted (only with a delivery observer).
    var timedDeliveries: [TimedDelivery] = []

    /// Messages on one channel in the outbox, timed from when the first was accepted.
    struct TimedDelivery {
        var channelSlot: Int
        var acceptedAt: NIODeadline
        var count: Int
    }
    var outputPolicy: OutputBufferPolicy

    init(id: UInt64, channel: any Channel, writesDirectly: Bool, authenticated: Bool, limits: OutputBufferPolicy.Limits) {
        self.id = id
        self.channel = channel
        // The cast `withUnsafeTransportIfAvailable` makes at every call, made once: it costs a
        // runtime type lookup.
        self.socket = writesDirectly ? channel._channelCore as? any NIOTransportAccessibleChannelCore<NIOBSDSocket.Handle> : nil
        self.remoteAddress = Self.describe(channel.remoteAddress)
        self.remoteHost = channel.remoteAddress?.ipAddress ?? ""
        self.localAddress = Self.describe(channel.localAddress)
        self.createdAt = .now()
        self.lastInteraction = createdAt
        self.authenticated = authenticated
        self.outputPolicy = OutputBufferPolicy(limits: limits)
    }

    private static func describe(_ address: SocketAddress?) -> String {
        guard let address, let ip = address.ipAddress, let port = address.port else { return "" }
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    static func == (lhs: RelayClient, rhs: RelayClient) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(id) }

    /// Bytes NIO holds for the connection, not yet written to its socket.
    func bytesQueuedInNIO() -> Int {
        guard outputInNIO || socket == nil else { return 0 }
        let pending = (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        if pending == 0 { outputInNIO = false }
        return pending
    }

    /// Whether replies to commands are written (CLIENT REPLY OFF/SKIP suppress them; pub/sub
    /// messages are always written, as Redis 7.2 does).
    var repliesEnabled: Bool { !repliesOff && !replySkippedNow }

    /// RESP2 clients with subscriptions may only run the pub/sub commands.
    var inSubscribedContext: Bool { version == .resp2 && subscriptionCount > 0 }

    func set(of kind: SubscriptionRegistry<RelayClient>.Kind) -> Set<ByteBuffer> {
        switch kind {
        case .channel: channels
        case .pattern: patterns
        case .shardChannel: shardChannels
        }
    }

    func insert(_ name: ByteBuffer, kind: SubscriptionRegistry<RelayClient>.Kind) -> Bool {
        switch kind {
        case .channel: channels.insert(name).inserted
        case .pattern: patterns.insert(name).inserted
        case .shardChannel: shardChannels.insert(name).inserted
        }
    }

    func remove(_ name: ByteBuffer, kind: SubscriptionRegistry<RelayClient>.Kind) -> Bool {
        switch kind {
        case .channel: channels.remove(name) != nil
        case .pattern: patterns.remove(name) != nil
        case .shardChannel: shardChannels.remove(name) != nil
        }
    }

    /// Appends a command reply, unless replies are switched off.
    func reply(_ value: RESPValue) {
        guard repliesEnabled else { return }
        outbox.append(value.encoded(version: version))
    }

    /// Appends an integer reply (PUBLISH's), unless replies are switched off.
    func reply(integer: Int) {
        guard repliesEnabled else { return }
        outbox.appendRESPHeader(UInt8(ascii: ":"), integer)
    }

    /// Appends bytes that are always sent (pub/sub messages and subscription confirmations).
    func push(_ frame: ByteBuffer) {
        outbox.append(frame)
    }
}
