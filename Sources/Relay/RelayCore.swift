#if canImport(Glibc)
import Glibc
#endif
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
    var observer: (any RelayObserver)? {
        didSet {
            observed = observer != nil
            timesDeliveries = observer?.observesDeliveries == true
        }
    }
    /// Whether there is an observer, and whether it times deliveries: read per publish instead
    /// of the observer itself (no reference counting per message).
    private var observed = false
    private var timesDeliveries = false

    var registry = SubscriptionRegistry<RelayClient>()
    var clients: [UInt64: RelayClient] = [:]
    private var nextClientID: UInt64 = 1
    private var awaitingFlush: [RelayClient] = []
    /// The clients being flushed now (swapped with `awaitingFlush`: neither array is reallocated).
    private var flushing: [RelayClient] = []
    /// Deliveries were reported to the observer during this flush: it hears the batch's end once, after all.
    private var deliveriesReported = false
    /// A flush of every outbox is scheduled for the end of this event-loop iteration.
    private var flushScheduled = false
    var stats = RelayStatistics()
    /// Failed logins, for the rate-limited log.
    var authFailureLog = AuthFailureLog()
    /// Failed logins per address, for slowing a burst of them.
    var loginThrottle = LoginThrottle()
    /// The counters at the last CONFIG RESETSTAT: INFO reports what grew since.
    var statsBaseline = RelayStatistics()
    /// The messages published since the observer last heard, while they stay on one channel:
    /// the observer hears of a run once, not of each message (the channel's buffer is reused).
    private var run = PublishRun(channel: ByteBufferAllocator().buffer(capacity: 64))
    /// Whether `run.channel` names the channel of the run (before the first publish it names none).
    private var runStarted = false
    /// Whether the observer wants each message of the run whole.
    private var runWantsMessages = false

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

    /// - Parameter writesDirectly: whether its output may go straight to its socket (plain TCP).
    func register(channel: any Channel, writesDirectly: Bool) -> RelayClient? {
        assertOnLoop()
        stats.connectionsReceived += 1
        guard clients.count < configuration.maxClients else {
            stats.rejectedConnections += 1
            return nil
        }
        let client = RelayClient(
            id: nextClientID, channel: channel, writesDirectly: writesDirectly,
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
        // What was published before the change is heard of before it.
        handOverRun()
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
        if observed { enterRun(channel) }
        let timed = timesDeliveries
        let receivers: Int
        var patternReceivers = 0
        if sharded {
            receivers = registry.forEachShardReceiver(ofChannel: channel) { subscriber in
                deliver(&frames, pattern: nil, to: subscriber)
                if timed { time(subscriber, acceptedAt: &acceptedAt) }
            }
        } else {
            receivers = registry.forEachReceiver(ofChannel: channel) { subscriber, pattern in
                deliver(&frames, pattern: pattern, to: subscriber)
                if pattern != nil { patternReceivers += 1 }
                if timed { time(subscriber, acceptedAt: &acceptedAt) }
            }
        }
        stats.messagesPublished += 1
        stats.messagesDelivered += UInt64(receivers)
        if receivers == 0 { stats.messagesUnrouted += 1 }
        if observed {
            run.messages += 1
            run.bytes += payload.readableBytes
            if receivers == 0 { run.unrouted += 1 }
            run.patternReceivers = patternReceivers
            if runWantsMessages, let observer {
                observer.relayDidPublish(PublishObservation(
                    channel: channel, payload: payload, receivers: receivers, patternReceivers: patternReceivers,
                    sharded: sharded, publisherID: publisher?.id ?? 0, acceptedAt: acceptedAt
                ))
            }
        }
        return receivers
    }

    /// Goes on with the current run when `channel` is its channel, else ends it and starts one
    /// on `channel`: per message, one comparison of the channel's bytes.
    @inline(__always)
    private func enterRun(_ channel: ByteBuffer) {
        guard !runStarted || run.channel != channel, let observer else { return }
        handOverRun()
        run.channel.clear()
        run.channel.writeImmutableBuffer(channel)
        runStarted = true
        let interest = observer.relayBeginsRun(on: channel)
        run.channelSlot = interest.channelSlot
        runWantsMessages = interest.wantsMessages
    }

    /// Tells the observer of the run so far, if it has messages.
    func handOverRun() {
        guard run.messages > 0, let observer else { return }
        observer.relayDidPublish(run: run)
        run.messages = 0
        run.bytes = 0
        run.unrouted = 0
        run.patternReceivers = 0
    }

    /// Notes a delivery to time: one subscriber's messages on one channel, written together,
    /// are timed once, from the first (the clock is read at most once per publish). The entry is
    /// looked for among the subscriber's last few: a pattern subscriber's output interleaves a
    /// handful of channels.
    @inline(__always)
    private func time(_ subscriber: RelayClient, acceptedAt: inout NIODeadline) {
        let slot = run.channelSlot
        var index = subscriber.timedDeliveries.count
        let oldest = max(0, index - 4)
        while index > oldest {
            index -= 1
            if subscriber.timedDeliveries[index].channelSlot == slot {
                subscriber.timedDeliveries[index].count += 1
                return
            }
        }
        if acceptedAt.uptimeNanoseconds == 0 { acceptedAt = .now() }
        subscriber.timedDeliveries.append(RelayClient.TimedDelivery(channelSlot: slot, acceptedAt: acceptedAt, count: 1))
    }

    @inline(__always)
    private func deliver(_ frames: inout MessageFrames, pattern: ByteBuffer?, to subscriber: RelayClient) {
        guard !subscriber.closing else { return }
        frames.write(to: subscriber.outbox, version: subscriber.version, pattern: pattern)
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
        handOverRun()
        observer?.relayDidFinishBatch()
        guard !awaitingFlush.isEmpty else { return }
        swap(&awaitingFlush, &flushing)
        let now = Double(NIODeadline.now().uptimeNanoseconds) / 1e9
        for client in flushing {
            client.awaitingFlush = false
            flush(client, now: now)
        }
        flushing.removeAll(keepingCapacity: true)
        if deliveriesReported {
            deliveriesReported = false
            observer?.relayDidFinishBatch()
        }
    }

    private func flush(_ client: RelayClient, now: Double) {
        let channel = client.channel
        if !client.outbox.isEmpty {
            send(client)
        }
        if client.closing {
            // QUIT or a protocol error: close once the last reply has been written, not before.
            if clients[client.id] != nil {
                channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in channel.close(promise: nil) }
            }
            return
        }
        guard client.subscriptionCount > 0 else { return }
        let pending = client.bytesQueuedInNIO()
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

    /// Sends the outbox: straight to the socket when nothing of the connection waits in NIO
    /// (whose writes would otherwise come after these), the rest (what the socket did not take,
    /// a TLS connection's output) through the channel, which writes it once the socket drains.
    private func send(_ client: RelayClient) {
        defer { client.outbox.clear() }
        let channel = client.channel
        var written = 0
        if let socket = client.socket, client.bytesQueuedInNIO() == 0 {
            switch writeDirectly(client.outbox.bytes, to: socket) {
            case .written(let count):
                written = count
            case .failed(let error):
                // As NIO does when its own write fails: the handler hears of it and closes.
                channel.pipeline.fireErrorCaught(error)
                client.timedDeliveries = []
                return
            }
        }
        let total = client.outbox.count
        if written == total {
            if !client.timedDeliveries.isEmpty {
                report(client.timedDeliveries, to: client, writtenAt: .now())
                client.timedDeliveries.removeAll(keepingCapacity: true)
                deliveriesReported = true
            }
            return
        }
        client.outputInNIO = true
        var rest = channel.allocator.buffer(capacity: total - written)
        rest.writeBytes(UnsafeRawBufferPointer(rebasing: client.outbox.bytes[written...]))
        guard !client.timedDeliveries.isEmpty, observer != nil else {
            channel.writeAndFlush(rest, promise: nil)
            return
        }
        // Reported once NIO has written them: this output's timings, not those of what follows.
        let timings = client.timedDeliveries
        client.timedDeliveries = []
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenSuccess { [self] in
            report(timings, to: client, writtenAt: .now())
            observer?.relayDidFinishBatch()
        }
        channel.writeAndFlush(rest, promise: promise)
    }

    /// Tells the observer when timed messages written to `client` reached its socket.
    private func report(_ timings: [RelayClient.TimedDelivery], to client: RelayClient, writtenAt: NIODeadline) {
        guard let observer else { return }
        for timing in timings {
            observer.relayDidDeliver(DeliveryObservation(
                channelSlot: timing.channelSlot, subscriberID: client.id,
                acceptedAt: timing.acceptedAt, writtenAt: writtenAt, count: timing.count))
        }
    }

    private enum DirectWrite {
        case written(Int)
        case failed(IOError)
    }

    /// Writes as much of `bytes` as the socket takes now, without waiting (none once it is closed).
    private func writeDirectly(_ bytes: UnsafeRawBufferPointer,
                               to transport: any NIOTransportAccessibleChannelCore<NIOBSDSocket.Handle>) -> DirectWrite {
        let outcome = try? transport.withUnsafeTransport { socket -> DirectWrite in
            var offset = 0
            while offset < bytes.count {
                let sent = Glibc.send(socket, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                if sent > 0 {
                    offset += sent
                    continue
                }
                let code = errno
                if sent < 0 && code == EINTR { continue }
                if sent < 0 && (code == EAGAIN || code == EWOULDBLOCK) { break }
                return .failed(IOError(errnoCode: sent == 0 ? EPIPE : code, reason: "send"))
            }
            return .written(offset)
        }
        return outcome ?? .written(0)
    }
}
