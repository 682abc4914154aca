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
    /// The classic subscription: `PSUBSCRIBE *` on the seed, or on another node of the cluster
    /// when the seed is gone (every node sees every classic message). A lost subscription is a
    /// gap, recorded when it is back.
    func subscribeLoop() {
        var backoff: Duration = .milliseconds(100)
        var lostAt: ContinuousClock.Instant?
        var everConnected = false
        var attempt = 0
        while !isStopping {
            let candidates = [ClusterTopology.Node(host: configuration.url.host, port: configuration.url.port)]
                + shared.withLock { $0.topology.nodes }.filter { $0.host != configuration.url.host || $0.port != configuration.url.port }
            let node = candidates[attempt % candidates.count]
            do {
                let connection = try RedisConnection(url(of: node), clientName: "lookout-monitor")
                try connection.append(["PSUBSCRIBE", "*"])
                var confirmed = false
                while !confirmed && !isStopping {
                    for reply in try connection.poll(timeoutMilliseconds: 200) {
                        if case .array(let parts) = reply, parts.first?.text == "psubscribe" { confirmed = true } else { handle([reply]) }
                    }
                }
                setConnected(true)
                if everConnected {
                    reconnects.increment()
                    if let lostAt {
                        let gap = ContinuousClock.now - lostAt
                        let seconds = gap.seconds
                        gapSeconds.increment(by: seconds)
                        let end = wallClockSeconds()
                        configuration.onGap(name, end - seconds, end)
                        logger.warning("resubscribed after a gap", metadata: ["source": "\(name)", "node": "\(node)", "gap": "\(gap)"])
                    }
                }
                everConnected = true
                lostAt = nil
                backoff = .milliseconds(100)
                while !isStopping {
                    handle(try connection.poll(timeoutMilliseconds: 200))
                }
            } catch {
                if lostAt == nil {
                    lostAt = .now
                    logger.error("subscription to Redis lost", metadata: ["source": "\(name)", "node": "\(node)", "error": "\(error)"])
                }
                setConnected(false)
                attempt += 1
                sleep(backoff)
                backoff = min(backoff * 2, configuration.maxBackoff)
            }
        }
        setConnected(false)
    }

    /// The seed URL's credentials, for `node`.
    func url(of node: ClusterTopology.Node) -> RedisURL {
        var url = configuration.url
        url.host = node.host
        url.port = node.port
        return url
    }

    private func setConnected(_ connected: Bool) {
        shared.withLock { $0.subscriberConnected = connected }
        up.set(Int64(connected ? 1 : 0))
    }

    /// One poll's messages (`pmessage` from the pattern subscription, `smessage` from shard
    /// subscriptions), summed per channel with one clock read, one lock and one hand-over per
    /// channel per poll, not per message, so the reader keeps up with a maximal publisher.
    func handle(_ replies: [RedisReply]) {
        guard !replies.isEmpty else { return }
        let now = wallClockSeconds()
        var sums = ChannelSums<SourceChannel>(capacity: .max)
        for reply in replies {
            guard let (channel, payload) = Self.message(in: reply) else { continue }
            if channel.name == configuration.probeChannel {
                let words = String(decoding: payload, as: UTF8.self).split(separator: " ")
                if words.count == 2, UInt64(words[0]) == probeID, let sentAt = Double(words[1]) {
                    probeRoundTrip.record(max(0, now - sentAt))
                }
                continue
            }
            if channel.name == configuration.heartbeatChannel && !channel.sharded {
                queue.offer(.heartbeat(payload: Array(payload.prefix(Heartbeat.maxBytes + 1)), at: now))
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
        let unrouted: Set<SourceChannel> = shared.withLock { state in
            Set(sums.touchedKeys.filter { channel in
                if channel.sharded { return state.shardNumsub[channel.name] == 1 }
                if state.seenChannels.count < configuration.maxPolledChannels { state.seenChannels.insert(channel.name) }
                return state.numsub[channel.name] == 0 && state.otherPatterns == 0
            })
        }
        for observation in sums.observations(at: now, unrouted: { key, entry in unrouted.contains(key) ? entry.messages : 0 }) {
            queue.offer(observation)
        }
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
