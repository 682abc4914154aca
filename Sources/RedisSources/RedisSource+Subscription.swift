#if canImport(Glibc)
import Glibc
#endif
import Glob
import Logging
import LookoutCore
import Observations
import Prometheus
import Synchronization

/// A channel as the Redis source counts it: classic and shard channels are different channels
/// even when their names are the same.
struct SourceChannel: Hashable {
    var name: String
    var sharded: Bool
}

extension RedisSource {
    /// The classic subscription: `PSUBSCRIBE` to the watched patterns (`*` unless narrowed) on a
    /// seed, or on another node of the cluster when the seed is gone (every node sees every
    /// classic message). A lost subscription is a gap, recorded when every subscription is back.
    func subscribeLoop() {
        var backoff: Duration = .milliseconds(100)
        var lost = false
        var everConnected = false
        var attempt = 0
        var tally = MessageTally(now: monotonicSeconds())
        while !isStopping {
            if standingBy() { continue }
            let candidates = candidateNodes
            let node = candidates[attempt % candidates.count]
            // How long the link had been silent when it was found dead (0 for other failures).
            var silence = 0.0
            do {
                let connection = try RedisConnection(configuration.url.on(node), clientName: "lookout-monitor")
                var liveness = LinkLiveness(self.liveness, now: monotonicSeconds())
                try connection.append(["PSUBSCRIBE"] + subscriptionPatterns.map { String(decoding: $0, as: UTF8.self) })
                var confirmations = 0
                while confirmations < subscriptionPatterns.count && !isStopping {
                    let heard = try read(connection, into: &tally) { reply in
                        if case .array(let parts) = reply, parts.first?.text == "psubscribe" { confirmations += 1 }
                    }
                    try keepAlive(connection, &liveness, heard: heard, watchProbes: false, silence: &silence)
                }
                if everConnected {
                    reconnects.increment()
                    shared.withLock { $0.reconnectCount += 1 }
                    logger.notice("subscribed again", metadata: ["source": "\(name)", "node": "\(node)"])
                }
                shared.withLock { $0.patternLinkError = nil }
                linkRestored(.pattern)
                everConnected = true
                lost = false
                backoff = .milliseconds(100)
                while !isStopping && shared.withLock({ $0.mergedInto == nil }) {
                    let heard = try read(connection, into: &tally) { _ in }
                    try keepAlive(connection, &liveness, heard: heard, watchProbes: true, silence: &silence)
                }
            } catch {
                // What was counted before the loss is handed over before the gap begins.
                handOver(&tally, at: monotonicSeconds())
                shared.withLock { $0.patternLinkError = "\(error)" }
                if !lost {
                    lost = true
                    logger.error("subscription to Redis lost", metadata: ["source": "\(name)", "node": "\(node)", "error": "\(error)"])
                }
                if everConnected { linkLost(.pattern, silentFor: silence) }
                attempt += 1
                sleep(backoff)
                backoff = min(backoff * 2, configuration.maxBackoff)
            }
        }
        handOver(&tally, at: monotonicSeconds())
        // Stopped: nothing is watched any more, and that is no gap.
        shared.withLock { $0.patternSubscribed = false }
        up.set(Int64(0))
    }

    /// One read of the classic subscription: messages into `tally`, other replies to `other`.
    /// True when anything was heard.
    private func read(_ connection: RedisConnection, into tally: inout MessageTally, other: (RedisReply) -> Void) throws -> Bool {
        let (others, heard, failure) = read([connection], into: &tally)[0]
        if let failure { throw failure }
        others.forEach(other)
        return heard
    }

    /// Keeps a subscription honest about its link: anything read counts as a sign of life; a
    /// quiet link is pinged (Redis answers PING while subscribed); a link silent for the link
    /// timeout, or (with `watchProbes`) one that has not brought back a probe published that long
    /// ago, is dead: the error closes it and the caller records the gap and reconnects.
    /// `silence` is set to how long the link had been silent when it is declared dead.
    func keepAlive(_ connection: RedisConnection, _ liveness: inout LinkLiveness, heard: Bool, watchProbes: Bool,
                   silence: inout Double) throws {
        let now = monotonicSeconds()
        if heard { liveness.heard(at: now) }
        switch liveness.check(at: now) {
        case .none: break
        case .ping: try connection.append(["PING"])
        case .declareDead(let silent):
            silence = silent
            throw RedisConnectionError.silent(for: silent)
        }
        guard watchProbes, let overdue = shared.withLock({ $0.probes.overdue(at: now, timeout: liveness.configuration.timeout) }) else { return }
        shared.withLock { $0.probes.reset() }
        silence = overdue
        throw RedisConnectionError(description: "a probe published \(Duration.seconds(overdue.rounded())) ago did not come back")
    }

    /// A probe back: `id sent-at` on the classic probe channel, `id sent-at shard` on a shard's.
    /// Another Lookout's probes (another id) are not ours to time. Returns what the poller
    /// parked behind a classic probe: every message before it has been read.
    private func recordProbe(_ payload: [UInt8], sharded: Bool, at now: Double) -> [Observation] {
        let words = String(decoding: payload, as: UTF8.self).split(separator: " ")
        guard words.count == (sharded ? 3 : 2), UInt64(words[0]) == probeID, let sentAt = Double(words[1]) else { return [] }
        if sharded {
            if let shard = Int(words[2]) { shardProbeRoundTrip(shard).record(max(0, now - sentAt)) }
            return []
        }
        probeRoundTrip.record(max(0, now - sentAt))
        return shared.withLock { state in
            state.probes.received(sentAt: sentAt)
            state.lastProbeRoundTrip = max(0, now - sentAt)
            return state.presence.probeReceived(sentAt: sentAt)
        }
    }

    /// How often a reader hands its counts to the monitor while messages keep coming (at once
    /// when the link falls quiet): the monitor takes one observation per channel per hand-over,
    /// not one per message or per read.
    static let handOverInterval = 0.25

    /// Waits up to 200 ms for replies on `connections`: messages are counted into `tally` in
    /// place; the other replies (confirmations, PONG, errors) come back converted, per
    /// connection, with whether anything was heard and the error that broke it. Counts are handed
    /// to the monitor when due.
    func read(_ connections: [RedisConnection], into tally: inout MessageTally)
        -> [(others: [RedisReply], heard: Bool, failure: RedisConnectionError?)] {
        var others = [[RedisReply]](repeating: [], count: connections.count)
        var heard = [Bool](repeating: false, count: connections.count)
        var now: Double?
        let failures = RedisConnection.poll(connections, timeoutMilliseconds: 200) { index, reply in
            heard[index] = true
            let time = now ?? wallClockSeconds()
            now = time
            switch tally.read(reply, patterns: subscriptionPatterns, envelope: envelope, now: time, describe: describe) {
            case .counted: break
            case .other: others[index].append(RedisConnection.convert(reply))
            case .handOver(let number, let payload): handOver(message: payload, on: tally.channels[number], at: time)
            case .probe(let sharded, let payload):
                let released = recordProbe(Array(payload), sharded: sharded, at: time)
                guard !released.isEmpty else { break }
                // The messages read before the probe go to the monitor before what it released.
                handOver(&tally, at: monotonicSeconds())
                for observation in released { queue.offer(observation) }
            }
        }
        let monotonic = monotonicSeconds()
        if !tally.isEmpty && (now == nil || monotonic - tally.lastHandOver >= Self.handOverInterval) { handOver(&tally, at: monotonic) }
        return (0..<connections.count).map { (others[$0], heard[$0], failures[$0]) }
    }

    /// What a channel seen for the first time is to this source.
    private func describe(_ channel: SourceChannel) -> MessageTally.Channel {
        let probe = channel.sharded ? channel.name.hasPrefix(shardProbePrefix) : channel.name == configuration.probeChannel
        let heartbeat = !channel.sharded && channel.name == configuration.heartbeatChannel
        if !channel.sharded && !probe {
            shared.withLock { $0.noteSeen(channel.name, cap: configuration.maxPolledChannels) }
        }
        let owner = channel.sharded ? nil : subscriptionPatterns.firstIndex { GlobPattern.matches(pattern: $0, subject: channel.name.utf8) }
        let contracted = !probe && configuration.events?.covers(channel.name.utf8) == true
        var described = MessageTally.Channel(source: channel, kind: probe ? .probe : heartbeat ? .heartbeat : .counted,
                                             contracted: contracted, owner: owner)
        if !probe && !heartbeat && !contracted && configuration.events?.infersShapes == true {
            described.samples = ShapeSampling.Window(limit: ShapeSampling.perChannel)
        }
        return described
    }

    /// A heartbeat to the tracker, an event on a contracted channel to the integrity checks, or
    /// a sample to shape inference.
    private func handOver(message payload: UnsafeRawBufferPointer, on channel: MessageTally.Channel, at now: Double) {
        if channel.kind == .heartbeat {
            queue.offer(.heartbeat(payload: Array(payload.prefix(Heartbeat.maxBytes + 1)), source: name, at: now))
        }
        if channel.contracted, let events = configuration.events {
            events.offer(channel: channel.source.name, payload: payload, at: now)
        } else if channel.samples != nil, let events = configuration.events {
            events.offerSample(channel: channel.source.name, payload: payload)
        }
    }

    /// Hands the tally's counts to the monitor: one `traffic` (and `latencies`) observation per
    /// channel, each message judged routed or published to nobody from the poller's counts
    /// (no subscriber on any node and, for a classic channel, no other client's pattern;
    /// Lookout's own subscriptions left out).
    func handOver(_ tally: inout MessageTally, at monotonic: Double) {
        guard !tally.isEmpty else { return }
        let now = wallClockSeconds()
        // Counts from a poller that has not reached every node lately may be stale, and a
        // channel not polled yet has none: those messages are not judged (and counted so).
        let judged: [Int?] = shared.withLock { state in
            guard state.pollIsFresh(at: monotonic, timeout: liveness.timeout) else { return [Int?](repeating: nil, count: tally.touched.count) }
            return tally.touched.map { number in
                let channel = tally.channels[number].source
                guard let count = channel.sharded ? state.shardNumsub[channel.name].map({ $0 - 1 }) : state.numsub[channel.name] else { return nil }
                return count == 0 && (channel.sharded || state.otherPatterns == 0) ? tally.channels[number].messages : 0
            }
        }
        var unjudgedMessages = 0
        tally.drain(at: monotonic) { index, channel in
            if channel.messages > 0 {
                if judged[index] == nil { unjudgedMessages += channel.messages }
                queue.offer(.traffic(channel: channel.source.name, messages: channel.messages, bytes: channel.bytes,
                                     unrouted: judged[index] ?? 0, at: now))
            }
            if !channel.latencies.isEmpty { queue.offer(.latencies(channel: channel.source.name, samples: channel.latencies.map { LatencySample(seconds: $0) })) }
        }
        if unjudgedMessages > 0 { unjudgedCounter.increment(by: Int64(unjudgedMessages)) }
    }
}
