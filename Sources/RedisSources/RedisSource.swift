#if canImport(Glibc)
import Glibc
#endif
import Logging
import LookoutCore
import LookoutMetrics
import Monitor
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// Watches a real Redis: one connection holds `PSUBSCRIBE *` and counts every message; a second
/// publishes probes on `lookout:probe` (round trip, and proof that the subscription delivers),
/// polls `PUBSUB NUMSUB` for the channels seen and `PUBSUB NUMPAT`, and reads `CLIENT LIST TYPE
/// pubsub` for the monitor's own output buffer. Both reconnect with capped backoff, and every
/// disconnection is a recorded gap (`lookout_source_up`, `lookout_source_reconnects_total`,
/// `lookout_source_gap_seconds_total`).
///
/// The monitor's own pattern subscription adds one to PUBLISH replies and NUMPAT, so "published
/// to nobody" is computed from NUMSUB and the *other* pattern subscriptions, refreshed every
/// poll: a message counts as unrouted when its channel had no subscriber and no other client
/// held a pattern.
public final class RedisSource: MonitoredSource, Service {
    /// Settings of one Redis source.
    public struct Configuration: Sendable {
        public var url: RedisURL
        public var probeChannel = "lookout:probe"
        public var pollInterval: Duration = .seconds(1)
        /// Most distinct channel names polled with NUMSUB.
        public var maxPolledChannels = 1000
        public var maxBackoff: Duration = .seconds(5)
        /// JSON field with the publish time, for publish-to-observe latency; nil to skip.
        public var timestampField: String?
        /// Channel consumers publish heartbeats on.
        public var heartbeatChannel: String
        /// Called when the subscription is back after a gap: the source, and the gap's start and
        /// end in seconds since the epoch (the store hooks in here).
        public var onGap: @Sendable (_ source: String, _ start: Double, _ end: Double) -> Void = { _, _, _ in }

        public init(url: RedisURL, timestampField: String? = nil, heartbeatChannel: String = HeartbeatTracker.defaultChannel) {
            self.url = url
            self.timestampField = timestampField
            self.heartbeatChannel = heartbeatChannel
        }
    }

    private struct Shared: Sendable {
        var subscriberConnected = false
        var numsub: [String: Int] = [:]
        var otherPatterns = 0
        var seenChannels: Set<String> = []
        /// Named subscribers seen in the last CLIENT LIST (other than Lookout's own).
        var namedSubscribers: Set<String>?
    }

    public let configuration: Configuration
    public var name: String { configuration.url.description }
    private let queue: ObservationQueue
    private let logger: Logger
    private let shared = Mutex(Shared())
    private let stopping = Atomic<Bool>(false)
    private let probeID = UInt64.random(in: 1...UInt64.max)
    private let envelope: EnvelopeTimestamp?

    private let up: Gauge
    private let reconnects: Counter
    private let gapSeconds: Counter
    private let probeRoundTrip: ValueHistogram
    private let outputBuffer: Gauge

    public init(configuration: Configuration, queue: ObservationQueue, metrics: MonitorMetrics, logger: Logger = Logger(label: "lookout.redis")) {
        self.configuration = configuration
        self.queue = queue
        self.logger = logger
        self.envelope = configuration.timestampField.map(EnvelopeTimestamp.init(field:))
        let labels = [("source", configuration.url.description)]
        let registry = metrics.registry
        up = metrics.sourceUp(configuration.url.description)
        reconnects = metrics.sourceReconnects(configuration.url.description)
        gapSeconds = registry.counter("lookout_source_gap_seconds_total", labels: labels,
                                          help: "Seconds without a subscription, when messages were not seen.")
        probeRoundTrip = registry.histogram("lookout_probe_roundtrip_seconds", labels: labels,
                                                     buckets: MonitorMetrics.latencyBuckets,
                                                     help: "Time from publishing a probe to receiving it on the subscription.")
        outputBuffer = registry.gauge("lookout_source_output_buffer_bytes", labels: labels,
                                          help: "The monitor's own output buffer on Redis (CLIENT LIST omem).")
    }

    public var isConnected: Bool {
        get async { shared.withLock { $0.subscriberConnected } }
    }

    public func subscriberCounts() async -> [String: Int] {
        shared.withLock { $0.numsub }
    }

    public func run() async throws {
        // hiredis blocks: each loop gets a thread of its own, never an event loop or the
        // cooperative pool. They check `stopping` at least every 200 ms.
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { try? await pool.runIfActive { self.subscribeLoop() } }
                    group.addTask { try? await pool.runIfActive { self.pollLoop() } }
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        try? await pool.shutdownGracefully()
    }

    /// Stops both loops (for tests that run the source without a ServiceGroup).
    public func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) }

    private func sleep(_ duration: Duration) {
        let end = ContinuousClock.now + duration
        while !isStopping && ContinuousClock.now < end { usleep(20_000) }
    }

    // MARK: subscription

    private func subscribeLoop() {
        var backoff: Duration = .milliseconds(100)
        var lostAt: ContinuousClock.Instant?
        var everConnected = false
        while !isStopping {
            do {
                let connection = try RedisConnection(configuration.url, clientName: "lookout-monitor")
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
                        logger.warning("resubscribed after a gap", metadata: ["source": "\(name)", "gap": "\(gap)"])
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
                    logger.error("subscription to Redis lost", metadata: ["source": "\(name)", "error": "\(error)"])
                }
                setConnected(false)
                sleep(backoff)
                backoff = min(backoff * 2, configuration.maxBackoff)
            }
        }
        setConnected(false)
    }

    private func setConnected(_ connected: Bool) {
        shared.withLock { $0.subscriberConnected = connected }
        up.set(Int64(connected ? 1 : 0))
    }

    /// One poll's messages: summed per channel, with one clock read, one lock and one hand-over
    /// per channel per poll (not per message), so the reader keeps up with a maximal publisher.
    private func handle(_ replies: [RedisReply]) {
        guard !replies.isEmpty else { return }
        let now = wallClockSeconds()
        var sums = ChannelSums<String>(capacity: .max)
        for reply in replies {
            guard case .array(let parts) = reply, parts.count == 4, case .bytes(let kind) = parts[0], kind.elementsEqual("pmessage".utf8),
                  let channel = parts[2].text, case .bytes(let payload) = parts[3] else { continue }
            if channel == configuration.probeChannel {
                let words = String(decoding: payload, as: UTF8.self).split(separator: " ")
                if words.count == 2, UInt64(words[0]) == probeID, let sentAt = Double(words[1]) {
                    probeRoundTrip.record(max(0, now - sentAt))
                }
                continue
            }
            if channel == configuration.heartbeatChannel {
                queue.offer(.heartbeat(payload: Array(payload.prefix(Heartbeat.maxBytes + 1)), at: now))
            }
            let latency = envelope?.seconds(in: payload).map { max(0, now - $0) }
            _ = sums.update(channel, now: { now }, newEntry: { ($0, $0) }) { entry in
                entry.messages += 1
                entry.bytes += payload.count
                if let latency { entry.latencies.append(latency) }
            }
        }
        guard !sums.isEmpty else { return }
        // Published to nobody: no channel subscriber and no other client's pattern, as last polled.
        let unrouted: Set<String> = shared.withLock { state in
            Set(sums.touchedNames.filter { channel in
                if state.seenChannels.count < configuration.maxPolledChannels { state.seenChannels.insert(channel) }
                return state.numsub[channel] == 0 && state.otherPatterns == 0
            })
        }
        for observation in sums.observations(at: now, unrouted: { unrouted.contains($0.name) ? $0.messages : 0 }) {
            queue.offer(observation)
        }
    }

    // MARK: polling

    private func pollLoop() {
        var connection: RedisConnection?
        while !isStopping {
            do {
                if connection == nil { connection = try RedisConnection(configuration.url, clientName: "lookout-poller") }
                try poll(connection!)
            } catch {
                connection = nil
                logger.debug("poll failed", metadata: ["source": "\(name)", "error": "\(error)"])
            }
            sleep(configuration.pollInterval)
        }
    }

    private func poll(_ connection: RedisConnection) throws {
        _ = try connection.command(["PUBLISH", configuration.probeChannel, "\(probeID) \(wallClockSeconds())"])
        let channels = shared.withLock { Array($0.seenChannels) }
        var numsub: [String: Int] = [:]
        for start in stride(from: 0, to: channels.count, by: 100) {
            let batch = Array(channels[start..<min(start + 100, channels.count)])
            if case .array(let pairs) = try connection.command(["PUBSUB", "NUMSUB"] + batch) {
                for index in stride(from: 0, to: pairs.count - 1, by: 2) {
                    if let channel = pairs[index].text, case .integer(let count) = pairs[index + 1] { numsub[channel] = Int(count) }
                }
            }
        }
        var patterns = 0
        if case .integer(let count) = try connection.command(["PUBSUB", "NUMPAT"]) { patterns = Int(count) }
        var ownOutput = 0
        var named: Set<String> = []
        if let text = try connection.command(["CLIENT", "LIST", "TYPE", "pubsub"]).text {
            let entries = ClientListEntry.parse(text)
            ownOutput = entries.first { $0.name == "lookout-monitor" }?.outputMemory ?? 0
            named = Set(entries.filter { !$0.name.isEmpty && !$0.name.hasPrefix("lookout-") && $0.subscriptions > 0 }.map(\.name))
        }
        let previous = shared.withLock { state in
            defer {
                state.namedSubscribers = named
                state.numsub = numsub
                state.otherPatterns = max(0, patterns - (state.subscriberConnected ? 1 : 0))
            }
            return state.namedSubscribers
        }
        outputBuffer.set(Int64(ownOutput))
        let now = wallClockSeconds()
        for name in named.subtracting(previous ?? []) {
            queue.offer(.namedConnection(name: name, subscribed: true, reason: "", at: now))
        }
        for name in (previous ?? []).subtracting(named) {
            queue.offer(.namedConnection(name: name, subscribed: false, reason: "named subscriber \(name) is no longer subscribed on Redis", at: now))
        }
    }
}
