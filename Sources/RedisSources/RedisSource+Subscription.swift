#if canImport(Glibc)
import Glibc
#endif
import Logging
import LookoutCore
import Monitor
import Prometheus
import Synchronization

/// A channel as the Redis source counts it: classic and shard channels are different channels
/// even when their names are the same.
struct SourceChannel: Hashable {
    var name: String
    var sharded: Bool
}

extension RedisSource {
    /// The classic subscription: `PSUBSCRIBE *` on a seed, or on another node of the cluster
    /// when the seed is gone (every node sees every classic message). A lost subscription is a
    /// gap, recorded when every subscription is back.
    func subscribeLoop() {
        var backoff: Duration = .milliseconds(100)
        var lost = false
        var everConnected = false
        var attempt = 0
        while !isStopping {
            if standingBy() { continue }
            let candidates = candidateNodes
            let node = candidates[attempt % candidates.count]
            // How long the link had been silent when it was found dead (0 for other failures).
            var silence = 0.0
            do {
                let connection = try RedisConnection(configuration.url.on(node), clientName: "lookout-monitor")
                var liveness = LinkLiveness(self.liveness, now: monotonicSeconds())
                try connection.append(["PSUBSCRIBE", "*"])
                var confirmed = false
                while !confirmed && !isStopping {
                    let replies = try connection.poll(timeoutMilliseconds: 200)
                    for reply in replies {
                        if case .array(let parts) = reply, parts.first?.text == "psubscribe" { confirmed = true } else { handle([reply]) }
                    }
                    try keepAlive(connection, &liveness, heard: !replies.isEmpty, watchProbes: false, silence: &silence)
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
                    let replies = try connection.poll(timeoutMilliseconds: 200)
                    handle(replies)
                    try keepAlive(connection, &liveness, heard: !replies.isEmpty, watchProbes: true, silence: &silence)
                }
            } catch {
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
        // Stopped: nothing is watched any more, and that is no gap.
        shared.withLock { $0.patternSubscribed = false }
        up.set(Int64(0))
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
    /// Another Lookout's probes (another id) are not ours to time.
    private func recordProbe(_ payload: [UInt8], sharded: Bool, at now: Double) {
        let words = String(decoding: payload, as: UTF8.self).split(separator: " ")
        guard words.count == (sharded ? 3 : 2), UInt64(words[0]) == probeID, let sentAt = Double(words[1]) else { return }
        if sharded {
            guard let shard = Int(words[2]) else { return }
            shardProbeRoundTrip(shard).record(max(0, now - sentAt))
        } else {
            probeRoundTrip.record(max(0, now - sentAt))
            shared.withLock { state in
                state.probes.received(sentAt: sentAt)
                state.lastProbeRoundTrip = max(0, now - sentAt)
            }
        }
    }

    /// One poll's messages (`pmessage` from the pattern subscription, `smessage` from shard
    /// subscriptions), summed per channel with one clock read, one lock and one hand-over per
    /// channel per poll, not per message, so the reader keeps up with a maximal publisher.
    func handle(_ replies: [RedisReply]) {
        guard !replies.isEmpty else { return }
        let now = wallClockSeconds()
        var sums = ChannelSums<SourceChannel>(capacity: .max)
        // Whether a contract covers each channel of this poll: its globs run once per channel.
        var coverage: [String: Bool] = [:]
        func covered(_ name: String, by events: EventHandOver) -> Bool {
            if let known = coverage[name] { return known }
            let answer = events.covers(name.utf8)
            coverage[name] = answer
            return answer
        }
        for reply in replies {
            guard let (channel, payload) = Self.message(in: reply) else { continue }
            if channel.name == configuration.probeChannel || (channel.sharded && channel.name.hasPrefix(shardProbePrefix)) {
                recordProbe(payload, sharded: channel.sharded, at: now)
                continue
            }
            if channel.name == configuration.heartbeatChannel && !channel.sharded {
                queue.offer(.heartbeat(payload: Array(payload.prefix(Heartbeat.maxBytes + 1)), source: name, at: now))
            }
            if let events = configuration.events, covered(channel.name, by: events) {
                events.offer(channel: channel.name, payload: payload, at: now)
            }
            let latency = envelope?.seconds(in: payload).map { max(0, now - $0) }
            _ = sums.update(channel, now: { now }, newEntry: { ($0, $0.name) }) { entry in
                entry.messages += 1
                entry.bytes += payload.count
                if let latency { entry.latencies.append(latency) }
            }
        }
        guard !sums.isEmpty else { return }
        // Published to nobody: no subscriber on any node (and, for a classic channel, no other
        // client's pattern), as last polled; Lookout's own subscriptions left out.
        let fresh = monotonicSeconds()
        let (unrouted, unjudged): (Set<SourceChannel>, Set<SourceChannel>) = shared.withLock { state in
            for channel in sums.touchedKeys where !channel.sharded { state.noteSeen(channel.name, cap: configuration.maxPolledChannels) }
            // Counts from a poller that has not reached every node lately may be stale, and a
            // channel not polled yet has none: those messages are not judged (and counted so).
            guard state.pollIsFresh(at: fresh, timeout: liveness.timeout) else { return ([], Set(sums.touchedKeys)) }
            var unrouted: Set<SourceChannel> = []
            var unjudged: Set<SourceChannel> = []
            for channel in sums.touchedKeys {
                let count = channel.sharded ? state.shardNumsub[channel.name].map { $0 - 1 } : state.numsub[channel.name]
                guard let count else {
                    unjudged.insert(channel)
                    continue
                }
                if count == 0 && (channel.sharded || state.otherPatterns == 0) { unrouted.insert(channel) }
            }
            return (unrouted, unjudged)
        }
        var unjudgedMessages = 0
        for observation in sums.observations(at: now, unrouted: { key, entry in
            if unjudged.contains(key) { unjudgedMessages += entry.messages }
            return unrouted.contains(key) ? entry.messages : 0
        }) {
            queue.offer(observation)
        }
        if unjudgedMessages > 0 { unjudgedCounter.increment(by: Int64(unjudgedMessages)) }
    }

    /// The channel and payload of a pushed message: `pmessage pattern channel payload` or
    /// `smessage channel payload`.
    static func message(in reply: RedisReply) -> (SourceChannel, [UInt8])? {
        guard case .array(let parts) = reply, case .bytes(let kind)? = parts.first else { return nil }
        if parts.count == 4, kind.elementsEqual("pmessage".utf8), let channel = parts[2].text, case .bytes(let payload) = parts[3] {
            return (SourceChannel(name: channel, sharded: false), payload)
        }
        if parts.count == 3, kind.elementsEqual("smessage".utf8), let channel = parts[1].text, case .bytes(let payload) = parts[2] {
            return (SourceChannel(name: channel, sharded: true), payload)
        }
        return nil
    }
}
