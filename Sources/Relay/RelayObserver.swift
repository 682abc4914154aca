import NIOCore

/// One message accepted by the relay (PUBLISH or SPUBLISH) on a channel whose messages the
/// observer wants whole (``RunInterest/wantsMessages``, asked at the start of each run).
public struct PublishObservation: Sendable {
    /// The channel; a slice of the receive buffer, valid beyond the call (copy it to keep it small).
    public var channel: ByteBuffer
    /// The payload; a slice of the receive buffer, valid during the call only (copy what you keep).
    public var payload: ByteBuffer
    public var payloadBytes: Int { payload.readableBytes }
    /// How many subscriptions received it (PUBLISH's reply: channel plus pattern receivers).
    public var receivers: Int
    /// How many of those were pattern subscriptions (PSUBSCRIBE) matching the channel.
    public var patternReceivers: Int
    public var sharded: Bool
    /// The publishing client's id; 0 for messages Lookout publishes itself.
    public var publisherID: UInt64
    /// When the relay accepted the message.
    public var acceptedAt: NIODeadline
}

/// Messages published on one channel one after another, counted: how the observer hears of
/// traffic. A run ends when a message on another channel comes, or with the read batch.
public struct PublishRun: Sendable {
    /// The channel; the relay's own buffer, valid during the call only (copy what you keep).
    public var channel: ByteBuffer
    /// The observer's number for the channel (``RunInterest/channelSlot``).
    public var channelSlot = 0
    public var messages = 0
    public var bytes = 0
    /// Messages of the run that reached no subscriber.
    public var unrouted = 0
    /// Pattern subscriptions that received the run's last message.
    public var patternReceivers = 0

    public init(channel: ByteBuffer) {
        self.channel = channel
    }
}

/// What the observer wants of a run of messages on one channel, said once at its start.
public struct RunInterest: Sendable {
    /// The observer's own number for the channel, handed back with the run and each delivery of
    /// it, so that the observer looks the channel up once per run, not per message.
    public var channelSlot: Int
    /// Whether each message of the run is wanted whole (``RelayObserver/relayDidPublish(_:)``).
    public var wantsMessages: Bool

    public init(channelSlot: Int, wantsMessages: Bool) {
        self.channelSlot = channelSlot
        self.wantsMessages = wantsMessages
    }
}

/// Messages of one run written to one subscriber's socket.
public struct DeliveryObservation: Sendable {
    /// The run's ``RunInterest/channelSlot``.
    public var channelSlot: Int
    public var subscriberID: UInt64
    /// When the first of the run was accepted (the longest wait of the run).
    public var acceptedAt: NIODeadline
    /// When the bytes were handed to the kernel.
    public var writtenAt: NIODeadline
    /// Messages on `channel` written to the subscriber together, timed once.
    public var count: Int = 1
}

/// A client connecting, naming itself, changing subscriptions or leaving.
public struct ClientObservation: Sendable {
    public enum Event: Sendable, Hashable {
        case connected, named, subscriptionsChanged, disconnected
    }
    public var event: Event
    public var clientID: UInt64
    public var name: String
    public var address: String
    public var subscriptions: Int
    /// For a named client that held subscriptions and now holds none (it left or unsubscribed
    /// from everything): the channels (classic and sharded) and patterns it held, at most 1,000 of each.
    public var leftChannels: [String] = []
    public var leftPatterns: [String] = []

    public init(event: Event, clientID: UInt64, name: String, address: String, subscriptions: Int,
                leftChannels: [String] = [], leftPatterns: [String] = []) {
        self.event = event
        self.clientID = clientID
        self.name = name
        self.address = address
        self.subscriptions = subscriptions
        self.leftChannels = leftChannels
        self.leftPatterns = leftPatterns
    }
}

/// The relay's in-process tap for the monitor.
///
/// Methods are called on the relay's event loop, synchronously, so they must return at once:
/// hand the observation over (a bounded queue, counting what does not fit) and never block.
/// With no observer installed the relay does no observation work at all.
public protocol RelayObserver: AnyObject, Sendable {
    /// Whether `relayDidDeliver` is wanted; it costs a clock read per publish that reaches a
    /// subscriber and a timing entry per subscriber and channel in each write.
    var observesDeliveries: Bool { get }
    /// The observer's number for `channel`, and whether each message on it is wanted whole,
    /// payload and all (`relayDidPublish(_:)`); asked once per run of messages on it. Every
    /// message is counted in a run either way.
    func relayBeginsRun(on channel: ByteBuffer) -> RunInterest
    /// A message on a channel whose messages are wanted.
    func relayDidPublish(_ observation: PublishObservation)
    /// A run of messages on one channel: every message published is counted in exactly one run,
    /// handed over before any client change that follows it and at the end of each read batch.
    func relayDidPublish(run: PublishRun)
    func relayDidDeliver(_ observation: DeliveryObservation)
    func relayClientDidChange(_ observation: ClientObservation)
    /// The end of a run of calls (a read batch, or a write's deliveries): an observer that sums
    /// on the event loop hands its sums over here.
    func relayDidFinishBatch()
}

extension RelayObserver {
    public func relayDidFinishBatch() {}
}
