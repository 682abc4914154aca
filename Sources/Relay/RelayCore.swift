import Logging
import NIOCore
import PubSubCore
import RESP

/// The relay's shared state: clients, subscriptions, counters, and the fan-out of messages.
///
/// Everything here runs on the relay's single event loop, as Redis runs on its single thread:
/// fan-out writes go straight into each subscriber's outbox with no locking and no hop, and
/// every client sees every publisher's messages in the order they were published.
final class RelayCore: @unchecked Sendable {
    // @unchecked Sendable: all mutable state is confined to `eventLoop`; every entry point
    // (the child channel initializer and the handlers it installs) runs there, which
    // `assertOnLoop()` checks in debug builds. Other threads only read `configuration`
    // (immutable) and the atomic-free `stats` snapshot through `eventLoop.submit`.
    let eventLoop: any EventLoop
    let configuration: RelayConfiguration
    let logger: Logger
    let startedAt = NIODeadline.now()
    let runID: String
    var observer: (any RelayObserver)?

    var registry = SubscriptionRegistry<RelayClient>()
    var clients: [UInt64: RelayClient] = [:]
    private var nextClientID: UInt64 = 1
    private var awaitingFlush: [RelayClient] = []
    /// A flush of every outbox is scheduled for the end of this event-loop iteration.
    private var flushScheduled = false
    var stats = RelayStatistics()
    /// Failed logins, for the rate-limited log.
    var authFailureLog = AuthFailureLog()
    /// Failed logins per address, for slowing a burst of them.
    var loginThrottle = LoginThrottle()
    /// The counters at the last CONFIG RESETSTAT: INFO reports what grew since.
    var statsBaseline = RelayStatistics()

    init(eventLoop: any EventLoop, configuration: RelayConfiguration, logger: Logger) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.logger = logger
        var generator = SystemRandomNumberGenerator()
        self.runID = (0..<40).map { _ in String(UInt8.random(in: 0..<16, using: &generator), radix: 16) }.joined()
    }

    @inline(__always)
    func assertOnLoop() {
        eventLoop.assertInEventLoop()
    }

    // MARK: clients

    func register(channel: any Channel) -> RelayClient? {
        assertOnLoop()
        stats.connectionsReceived += 1
        guard clients.count < configuration.maxClients else {
            stats.rejectedConnections += 1
            return nil
        }
        let client = RelayClient(
            id: nextClientID, channel: channel,
            authenticated: configuration.startsAuthenticated,
            limits: configuration.outputBufferLimits
        )
        nextClientID += 1
        clients[client.id] = client
        notify(.connected, client)
        return client
    }

    func unregister(_ client: RelayClient) {
        assertOnLoop()
        guard clients.removeValue(forKey: client.id) != nil else { return }
        client.closing = true
        let held = heldSubscriptions(client)
        dropAllSubscriptions(client)
        client.timedDeliveries = []
        notify(.disconnected, client, left: held)
    }

    /// What a named client holds, for the observer to count what it misses once it holds nothing.
    func heldSubscriptions(_ client: RelayClient) -> (channels: [ByteBuffer], patterns: [ByteBuffer]) {
        guard observer != nil, !client.name.isEmpty else { return ([], []) }
        return (Array(client.channels.prefix(1_000)) + Array(client.shardChannels.prefix(1_000)), Array(client.patterns.prefix(1_000)))
    }

    func notify(_ event: ClientObservation.Event, _ client: RelayClient,
                left: (channels: [ByteBuffer], patterns: [ByteBuffer]) = ([], [])) {
        guard let observer else { return }
        observer.relayClientDidChange(ClientObservation(
            event: event, clientID: client.id, name: client.name,
            address: client.remoteAddress, subscriptions: client.subscriptionCount,
            leftChannels: left.channels.map { String(buffer: $0) }, leftPatterns: left.patterns.map { String(buffer: $0) }
        ))
    }

    /// Closes a client after what it has been sent so far.
    func close(_ client: RelayClient) {
        guard !client.closing else { return }
        client.closing = true
        scheduleFlush(client)
    }

    // MARK: publishing

    /// Delivers a message to every receiver and returns their count (PUBLISH's reply).
    func publish(channel: ByteBuffer, payload: ByteBuffer, sharded: Bool, publisher: RelayClient?) -> Int {
        assertOnLoop()
        // Read the clock only to time a delivery: with no observer, or no receiver, publishing
        // reads no clock.
        var acceptedAt = NIODeadline.uptimeNanoseconds(0)
        var frames = MessageFrames(channel: channel, payload: payload, sharded: sharded)
        let timed = observer?.observesDeliveries == true
        let receivers: Int
        var patternReceivers = 0
        if sharded {
            receivers = registry.forEachShardReceiver(ofChannel: channel) { subscriber in
                deliver(&frames, pattern: nil, to: subscriber)
                if timed {
                    if acceptedAt.uptimeNanoseconds == 0 { acceptedAt = .now() }
                    subscriber.timedDeliveries.append((channel, acceptedAt))
                }
            }
        } else {
            receivers = registry.forEachReceiver(ofChannel: channel) { subscriber, pattern in
                deliver(&frames, pattern: pattern, to: subscriber)
                if pattern != nil { patternReceivers += 1 }
                if timed {
                    if acceptedAt.uptimeNanoseconds == 0 { acceptedAt = .now() }
                    subscriber.timedDeliveries.append((channel, acceptedAt))
                }
            }
        }
        stats.messagesPublished += 1
        stats.messagesDelivered += UInt64(receivers)
        if receivers == 0 { stats.messagesUnrouted += 1 }
        if let observer {
            observer.relayDidPublish(PublishObservation(
                channel: channel, payload: payload, receivers: receivers, patternReceivers: patternReceivers,
                sharded: sharded, publisherID: publisher?.id ?? 0, acceptedAt: acceptedAt
            ))
        }
        return receivers
    }

    @inline(__always)
    private func deliver(_ frames: inout MessageFrames, pattern: ByteBuffer?, to subscriber: RelayClient) {
        guard !subscriber.closing else { return }
        frames.write(to: &subscriber.outbox, version: subscriber.version, pattern: pattern)
        scheduleFlush(subscriber)
    }

    // MARK: flushing

    /// Marks a client as having output to write at the end of the current read batch.
    func scheduleFlush(_ client: RelayClient) {
        guard !client.awaitingFlush else { return }
        client.awaitingFlush = true
        awaitingFlush.append(client)
    }

    /// Flushes every outbox once, after every connection's reads in this event-loop iteration
    /// (as Redis writes in `beforeSleep`): many publishers then cost one write per subscriber,
    /// not one per publisher per subscriber.
    func flushAllSoon() {
        guard !flushScheduled else { return }
        flushScheduled = true
        eventLoop.execute { [self] in
            flushScheduled = false
            flushAll()
        }
    }

    /// Writes every pending outbox, applies the output-buffer limits, and closes clients that
    /// asked to be closed.
    func flushAll() {
        assertOnLoop()
        observer?.relayDidFinishBatch()
        guard !awaitingFlush.isEmpty else { return }
        let batch = awaitingFlush
        awaitingFlush.removeAll(keepingCapacity: true)
        let now = Double(NIODeadline.now().uptimeNanoseconds) / 1e9
        for client in batch {
            client.awaitingFlush = false
            flush(client, now: now)
        }
    }

    private func flush(_ client: RelayClient, now: Double) {
        let channel = client.channel
        if client.outbox.readableBytes > 0 {
            // Written before it is cleared: once the socket took it all, NIO holds no reference
            // and clearing reuses the storage instead of allocating a new buffer every flush.
            defer { client.outbox.clear() }
            if !client.timedDeliveries.isEmpty, let observer {
                let timings = client.timedDeliveries
                client.timedDeliveries = []
                let promise = channel.eventLoop.makePromise(of: Void.self)
                let subscriberID = client.id
                promise.futureResult.whenSuccess {
                    let writtenAt = NIODeadline.now()
                    for timing in timings {
                        observer.relayDidDeliver(DeliveryObservation(
                            channel: timing.channel, subscriberID: subscriberID,
                            acceptedAt: timing.acceptedAt, writtenAt: writtenAt))
                    }
                    observer.relayDidFinishBatch()
                }
                channel.writeAndFlush(client.outbox, promise: promise)
            } else {
                channel.writeAndFlush(client.outbox, promise: nil)
            }
        }
        if client.closing {
            // QUIT or a protocol error: close once the last reply has been written, not before.
            if clients[client.id] != nil {
                channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in channel.close(promise: nil) }
            }
            return
        }
        guard client.subscriptionCount > 0 else { return }
        let pending = (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        switch client.outputPolicy.check(pendingBytes: pending, now: now) {
        case .keep:
            break
        case .disconnectHardLimit, .disconnectSoftLimit:
            stats.slowSubscriberDisconnects += 1
            logger.warning("closing slow subscriber over its output buffer limit", metadata: [
                "client.id": "\(client.id)", "client.name": "\(client.name)",
                "client.addr": "\(client.remoteAddress)", "pending.bytes": "\(pending)",
                "limit": "\(configuration.outputBufferLimits.redisSyntax)",
            ])
            client.closing = true
            channel.close(promise: nil)
        }
    }
}

/// Failed logins are logged at most once per client address every 10 seconds, with how many
/// there were since, so a password-guessing burst makes a few lines, not one per attempt. The
/// password is never logged.
struct AuthFailureLog {
    private var lastLogged: [String: (at: NIODeadline, suppressed: Int)] = [:]
    static let interval = TimeAmount.seconds(10)

    mutating func note(_ failure: AuthFailure, address: String, clientID: UInt64, logger: Logger, now: NIODeadline = .now()) {
        if let last = lastLogged[address], now - last.at < Self.interval {
            lastLogged[address]?.suppressed += 1
            return
        }
        let suppressed = lastLogged[address]?.suppressed ?? 0
        if lastLogged.count >= 1024 { lastLogged = lastLogged.filter { now - $0.value.at < Self.interval } }
        lastLogged[address] = (now, 0)
        logger.warning("relay: AUTH failed", metadata: [
            "reason": "\(failure.rawValue)", "client.addr": "\(address)", "client.id": "\(clientID)",
            "failures_not_logged": "\(suppressed)",
        ])
    }
}

/// How long a failed login's reply waits, per client address: nothing for the first few
/// failures, then doubling up to a cap, so that a password-guessing burst from one address slows
/// to one guess per ``maximumDelay`` per connection while someone who mistypes is not slowed.
/// An address is forgotten after ``window`` without a failure. Pure: the caller passes the time.
struct LoginThrottle {
    static let freeFailures = 5
    static let firstDelay = TimeAmount.milliseconds(100)
    static let maximumDelay = TimeAmount.seconds(2)
    static let window = TimeAmount.seconds(10)
    /// Addresses remembered at most; beyond it (many addresses failing at once) every failure
    /// from a new address waits the longest.
    static let capacity = 10_000

    private var failures: [String: (count: Int, last: NIODeadline)] = [:]

    /// Records a failure from `host` and returns how long its reply waits.
    mutating func delayAfterFailure(from host: String, now: NIODeadline) -> TimeAmount {
        var entry = failures[host].flatMap { now - $0.last < Self.window ? $0 : nil } ?? (count: 0, last: now)
        entry.count += 1
        entry.last = now
        if failures[host] == nil && failures.count >= Self.capacity {
            failures = failures.filter { now - $0.value.last < Self.window }
            if failures.count >= Self.capacity { return Self.maximumDelay }
        }
        failures[host] = entry
        let excess = entry.count - Self.freeFailures
        guard excess > 0 else { return .zero }
        return min(Self.maximumDelay, Self.firstDelay * (1 << min(excess - 1, 16)))
    }
}

/// Why an AUTH failed (the `reason` label of `lookout_relay_auth_failures_total`). The client
/// always gets Redis's one WRONGPASS reply, whichever it is.
public enum AuthFailure: String, Sendable, Hashable, CaseIterable {
    case wrongPassword = "wrong_password"
    case unknownUser = "unknown_user"
    case disabledUser = "disabled_user"
}

/// Counters behind INFO and the monitor's relay metrics.
public struct RelayStatistics: Sendable, Hashable {
    public var connectionsReceived: UInt64 = 0
    public var rejectedConnections: UInt64 = 0
    public var commandsProcessed: UInt64 = 0
    public var messagesPublished: UInt64 = 0
    public var messagesDelivered: UInt64 = 0
    public var messagesUnrouted: UInt64 = 0
    public var slowSubscriberDisconnects: UInt64 = 0
    public var protocolErrors: UInt64 = 0
    /// Connections closed because their peer stopped answering TCP keep-alive probes.
    public var keepaliveDisconnects: UInt64 = 0
    /// Failed AUTH (and HELLO … AUTH) attempts, by reason.
    public var authFailures: [AuthFailure: UInt64] = [:]
    /// Failed logins whose reply was held back (a burst from one address).
    public var delayedLoginRefusals: UInt64 = 0
    public var connectedClients = 0
    public var channels = 0
    public var patterns = 0
    public var shardChannels = 0

    /// The counters' growth since `baseline` (sizes are kept as they are).
    func since(_ baseline: RelayStatistics) -> RelayStatistics {
        var grown = self
        grown.connectionsReceived -= min(connectionsReceived, baseline.connectionsReceived)
        grown.rejectedConnections -= min(rejectedConnections, baseline.rejectedConnections)
        grown.commandsProcessed -= min(commandsProcessed, baseline.commandsProcessed)
        grown.messagesPublished -= min(messagesPublished, baseline.messagesPublished)
        grown.messagesDelivered -= min(messagesDelivered, baseline.messagesDelivered)
        grown.messagesUnrouted -= min(messagesUnrouted, baseline.messagesUnrouted)
        grown.slowSubscriberDisconnects -= min(slowSubscriberDisconnects, baseline.slowSubscriberDisconnects)
        grown.protocolErrors -= min(protocolErrors, baseline.protocolErrors)
        grown.keepaliveDisconnects -= min(keepaliveDisconnects, baseline.keepaliveDisconnects)
        for (reason, count) in authFailures { grown.authFailures[reason] = count - min(count, baseline.authFailures[reason] ?? 0) }
        return grown
    }
}

/// The encoded message frames of one publish. The first receiver of each protocol gets the
/// message encoded straight into its outbox, which allocates nothing; a second one makes the
/// frame be built once and copied from then on. Pattern receivers always get theirs encoded
/// straight into their outbox.
struct MessageFrames {
    let channel: ByteBuffer
    let payload: ByteBuffer
    let sharded: Bool
    private var resp2: ByteBuffer?
    private var resp3: ByteBuffer?
    /// Whether a receiver without a pattern already got the message encoded directly, per protocol.
    private var wroteDirectly: (resp2: Bool, resp3: Bool) = (false, false)

    init(channel: ByteBuffer, payload: ByteBuffer, sharded: Bool) {
        self.channel = channel
        self.payload = payload
        self.sharded = sharded
    }

    /// Appends the message, as `version` and `pattern` want it, to `outbox`. A pattern's frame is
    /// encoded straight into each receiver's outbox: its bytes are copied there either way, and
    /// a cached frame would cost a buffer and a dictionary entry per message.
    mutating func write(to outbox: inout ByteBuffer, version: RESPVersion, pattern: ByteBuffer?) {
        if let pattern {
            encode(version, pattern: pattern, into: &outbox)
            return
        }
        let first = version == .resp2 ? !wroteDirectly.resp2 : !wroteDirectly.resp3
        if first {
            if version == .resp2 { wroteDirectly.resp2 = true } else { wroteDirectly.resp3 = true }
            encode(version, pattern: nil, into: &outbox)
            return
        }
        outbox.writeImmutableBuffer(frame(for: version))
    }

    mutating func frame(for version: RESPVersion) -> ByteBuffer {
        if version == .resp2 {
            if let resp2 { return resp2 }
            resp2 = encode(.resp2, pattern: nil)
            return resp2!
        }
        if let resp3 { return resp3 }
        resp3 = encode(.resp3, pattern: nil)
        return resp3!
    }

    private func encode(_ version: RESPVersion, pattern: ByteBuffer?) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(channel.readableBytes + payload.readableBytes + (pattern?.readableBytes ?? 0) + 48)
        encode(version, pattern: pattern, into: &buffer)
        return buffer
    }

    private func encode(_ version: RESPVersion, pattern: ByteBuffer?, into buffer: inout ByteBuffer) {
        let kind: StaticString = pattern != nil ? "$8\r\npmessage\r\n" : (sharded ? "$8\r\nsmessage\r\n" : "$7\r\nmessage\r\n")
        buffer.writeRESPHeader(version == .resp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"), pattern != nil ? 4 : 3)
        buffer.writeStaticString(kind)
        if let pattern { buffer.writeBulkString(pattern) }
        buffer.writeBulkString(channel)
        buffer.writeBulkString(payload)
    }
}
