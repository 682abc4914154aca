#if canImport(Glibc)
import Glibc
#endif
import Glob
import Logging
import LookoutCore
import LookoutMetrics
import Observations
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// Watches a real Redis or Redis Cluster, on three threads of its own (hiredis blocks):
/// - the subscription: one connection holds `PSUBSCRIBE *` and counts every classic message (on
///   a cluster every node sees every classic message: one subscription sees them all, once);
///   it moves to another node when its node fails, and every disconnection is a recorded gap
///   (`lookout_source_up`, `lookout_source_reconnects_total`, `lookout_source_gap_seconds_total`);
/// - the poller: reads the topology (`CLUSTER SHARDS`; a plain Redis is one shard), publishes a
///   probe on `lookout:probe`, and sums over every node `PUBSUB NUMSUB` for the channels seen,
///   `PUBSUB NUMPAT`, `CLIENT LIST TYPE pubsub` (named consumers), and per shard
///   `PUBSUB SHARDCHANNELS` and `SHARDNUMSUB`: PUBSUB answers are node-local;
/// - the shard subscriptions: Redis never delivers sharded messages (SPUBLISH) to pattern
///   subscribers, so each shard channel found is `SSUBSCRIBE`d on a connection to its shard.
///
/// The monitor's own subscriptions add one to PUBLISH replies, NUMPAT and SHARDNUMSUB, so
/// "published to nobody" is judged from the counts without them: a classic message is unrouted
/// when its channel had no subscriber on any node and no other client held a pattern; a sharded
/// one when its shard channel had no subscriber but Lookout.
public final class RedisSource: MonitoredSource, Service {
    /// Settings of one Redis source.
    public struct Configuration: Sendable {
        public var url: RedisURL
        public var probeChannel = OwnChannels.probe
        public var pollInterval: Duration = .seconds(1)
        /// Most distinct channel names polled with NUMSUB.
        public var maxPolledChannels = 1000
        public var maxBackoff: Duration = .seconds(5)
        /// The bound on noticing a link that stops answering without closing (a partition, a
        /// frozen server): every connection is pinged when quiet and closed after this much
        /// silence; a probe not back within it marks the subscription dead too; a poller that
        /// completes no poll within it makes the source not ready.
        public var linkTimeout: Duration = .seconds(5)
        /// JSON field with the publish time, for publish-to-observe latency; nil to skip.
        public var timestampField: String?
        /// Channel consumers publish heartbeats on.
        public var heartbeatChannel: String
        /// Shared by every source of one application, so that one cluster is watched once.
        public var claims = ClusterClaims()
        /// Where messages on contracted channels go to be judged; nil without contracts.
        public var events: EventHandOver?
        /// What is watched: a classic channel when it matches one of these globs (each held with
        /// `PSUBSCRIBE`), a shard channel likewise (`SSUBSCRIBE`d when it matches). Channels
        /// outside are not seen at all: no counts, no series, no alert. Default `*`: everything.
        public var watch: [String] = ["*"]

        public init(url: RedisURL, timestampField: String? = nil, heartbeatChannel: String = OwnChannels.heartbeat) {
            self.url = url
            self.timestampField = timestampField
            self.heartbeatChannel = heartbeatChannel
        }
    }

    /// A subscription the source needs to see every message.
    enum Link: Hashable, Sendable {
        /// `PSUBSCRIBE *`: every classic message.
        case pattern
        /// The `SSUBSCRIBE`s of one shard (by index in the topology).
        case shard(Int)
    }

    /// What the reader and the poller learn about the Redis and hand each other, under one lock.
    struct ObservedState: Sendable {
        /// Whether `PSUBSCRIBE *` is held now.
        var patternSubscribed = false
        /// Subscriptions missing, and the gap they make.
        var coverage = SourceCoverage<Link>()
        /// Subscribers of each classic channel seen, summed over every node.
        var numsub: [String: Int] = [:]
        var otherPatterns = 0
        var seenChannels: Set<String> = []
        /// Named subscribers seen in the last CLIENT LIST (other than Lookout's own).
        var namedSubscribers: Set<String>?
        /// Output buffer bytes (`omem`) of each named subscriber, summed over its connections.
        var namedOutput: [String: Int] = [:]
        /// Subscriptions made again after a loss, and the last classic probe's round trip (seconds).
        var reconnectCount: UInt64 = 0
        var lastProbeRoundTrip: Double?
        /// The deployment as last read (a plain Redis until the poller knows better).
        var topology: ClusterTopology
        /// Shard channels to subscribe to (the per-shard probes among them), with the index of
        /// the shard that serves them.
        var shardChannels: [String: Int] = [:]
        /// Subscribers of each shard channel over its shard's nodes, Lookout's own included: only
        /// for channels Lookout was subscribed to before the poll that counted them began.
        var shardNumsub: [String: Int] = [:]
        /// Counts the poller's polls (it grows as each one begins).
        var pollGeneration: UInt64 = 0
        /// Shard channels Lookout's subscription holds (Redis confirmed it), with the poll
        /// generation current then: a count is Lookout's own included only from the next poll.
        var shardHeldSince: [String: UInt64] = [:]
        /// Grows whenever `topology` or `shardChannels` changes: the shard subscriptions follow it.
        var planVersion: UInt64 = 0
        /// Whether the poller has tried to read the topology once: the subscriptions wait for it,
        /// so that a source merged into another never subscribes.
        var topologyTried = false
        /// The source that watches this one's cluster, when another source found it first.
        var mergedInto: String?
        /// Set when a subscription saw the topology change (a moved channel, a lost node): the
        /// poller reads it again at once instead of at its next interval.
        var refreshRequested = false
        /// When (monotonic seconds) the poller last reached every node; it starts with the source.
        var lastCompletePoll: Double
        /// The classic probes awaited on the pattern subscription.
        var probes = ProbeWatch()
        /// Named subscribers come or gone, held until the subscription caught up with the poll.
        var presence = ProbeFence<Observation>()
        /// Why the pattern subscription's last attempt failed (a refused certificate, a wrong
        /// password, a connection refused), until it is held again.
        var patternLinkError: String?

        /// Whether every message is seen: the pattern subscription and every shard's are held.
        var isWatching: Bool { patternSubscribed && coverage.isComplete }

        /// Why the source is not ready now, or nil: a subscription missing (messages go unseen),
        /// or a poller that reached no complete answer within `timeout` (counts are stale).
        func notReadyReason(at now: Double, timeout: Double) -> String? {
            if mergedInto != nil { return nil }
            if !patternSubscribed { return "the pattern subscription is not held" + (patternLinkError.map { ": \($0)" } ?? "") }
            if !coverage.isComplete { return "a shard subscription is not held" }
            if pollIsFresh(at: now, timeout: timeout) { return nil }
            return "no complete poll for \(Duration.seconds((now - lastCompletePoll).rounded()))"
        }

        /// Adds a classic channel to those the poller counts (up to `cap`). A new one asks for a
        /// poll now: its messages are judged only once a poll has counted its subscribers.
        mutating func noteSeen(_ channel: String, cap: Int) {
            guard seenChannels.count < cap, seenChannels.insert(channel).inserted else { return }
            refreshRequested = true
        }

        /// Whether the last complete poll is recent enough to judge "published to nobody" by.
        func pollIsFresh(at now: Double, timeout: Double) -> Bool { now - lastCompletePoll <= timeout }
    }

    public let configuration: Configuration
    public var name: String { configuration.url.description }
    let shared: Mutex<ObservedState>
    private let stopping = Atomic<Bool>(false)
    let probeID = UInt64.random(in: 1...UInt64.max)
    let envelope: EnvelopeTimestamp?
    /// The patterns the classic subscription holds: the watch, then the probe and heartbeat
    /// channels (escaped) when the watch leaves them out, so that liveness and heartbeats never
    /// depend on it.
    let subscriptionPatterns: [[UInt8]]

    let up: Gauge
    let reconnects: Counter
    let gapSeconds: Counter
    let probeRoundTrip: ValueHistogram
    let outputBuffer: Gauge
    let topologyChanges: Counter
    /// Messages whose routing could not be judged: their channel not polled yet, or stale polls.
    let unjudgedCounter: Counter
    let clusterMetrics: ClusterBusMetrics
    let queue: ObservationQueue
    let logger: Logger
    private let registry: PrometheusCollectorRegistry

    public init(configuration: Configuration, queue: ObservationQueue, registry: PrometheusCollectorRegistry, logger: Logger = Logger(label: "lookout.redis")) {
        self.configuration = configuration
        self.queue = queue
        self.logger = logger
        self.envelope = configuration.timestampField.map(EnvelopeTimestamp.init(field:))
        var patterns = configuration.watch.map { Array($0.utf8) }
        for channel in [configuration.probeChannel, configuration.heartbeatChannel]
        where !patterns.contains(where: { GlobPattern.matches(pattern: $0, subject: channel.utf8) }) {
            patterns.append(Array(GlobPattern.escaped(channel).utf8))
        }
        self.subscriptionPatterns = patterns
        self.shared = Mutex(ObservedState(topology: .standalone(host: configuration.url.host, port: configuration.url.port),
                                   lastCompletePoll: monotonicSeconds()))
        let labels = [("source", configuration.url.description)]
        self.registry = registry
        let series = SourceSeries(source: configuration.url.description, registry: registry)
        up = series.up
        reconnects = series.reconnects
        gapSeconds = registry.counter("lookout_source_gap_seconds_total", labels: labels,
                                          help: "Seconds without a subscription, when messages were not seen.")
        probeRoundTrip = registry.histogram("lookout_probe_roundtrip_seconds", labels: labels,
                                                     buckets: LatencyBuckets.seconds,
                                                     help: "Time from publishing a probe to receiving it on the subscription.")
        outputBuffer = registry.gauge("lookout_source_output_buffer_bytes", labels: labels,
                                      help: "The monitor's own output buffer on Redis (CLIENT LIST omem).")
        clusterMetrics = ClusterBusMetrics(registry: registry, source: configuration.url.description)
        unjudgedCounter = registry.counter("lookout_source_unjudged_messages_total", labels: labels,
                                           help: "Messages seen whose routing (delivered, or published to nobody) could not be judged: their channel's subscribers not counted yet, or counts stale.")
        topologyChanges = registry.counter("lookout_source_topology_changes_total", labels: labels,
                                           help: "Changes of the Redis Cluster's nodes, primaries or slots seen by the source.")
        for pattern in configuration.watch {
            registry.gauge("lookout_source_watch_patterns", labels: labels + [("pattern", pattern)],
                           help: "The globs a Redis source watches (1 each): channels outside them are not seen.").set(Int64(1))
        }
    }

    /// Shard probe channels are `lookout:probe{n}`, one `n` per shard.
    var shardProbePrefix: String { configuration.probeChannel + "{" }

    /// The round trip of shard `index`'s probe (SPUBLISH, seen on the shard's subscription).
    func shardProbeRoundTrip(_ index: Int) -> ValueHistogram {
        registry.histogram("lookout_probe_roundtrip_seconds", labels: [("source", name), ("shard", "\(index)")],
                           buckets: LatencyBuckets.seconds,
                           help: "Time from publishing a probe to receiving it on the subscription.")
    }

    public var isConnected: Bool {
        get async { await notReadyReason == nil }
    }

    public var notReadyReason: String? {
        get async { currentNotReadyReason() }
    }

    /// The liveness settings every connection of this source uses.
    var liveness: LinkLiveness.Configuration { .init(timeout: configuration.linkTimeout.seconds) }

    /// Why the source is not ready now (nil when it is), with `lookout_source_up` set to match.
    @discardableResult
    func currentNotReadyReason() -> String? {
        let now = monotonicSeconds()
        let reason = shared.withLock { $0.notReadyReason(at: now, timeout: liveness.timeout) }
        up.set(Int64(reason == nil ? 1 : 0))
        return reason
    }

    /// Notes that `link` is missing (lost, or could not be made): the source is down until it is
    /// back, and the time until then is a gap. A link found silent was lost when it fell silent:
    /// `silentFor` moves the gap's start back by that much. True when it was not missing already
    /// (to log once).
    @discardableResult
    func linkLost(_ link: Link, silentFor: Double = 0) -> Bool {
        let now = wallClockSeconds() - silentFor
        let newly = shared.withLock { state in
            let newly = !state.coverage.missing.contains(link)
            state.coverage.lost(link, at: now)
            if link == .pattern { state.patternSubscribed = false }
            state.refreshRequested = true
            return newly
        }
        // Heartbeats travel on a classic channel: without the pattern subscription they go
        // unseen, and the consumers' silence is not theirs.
        if newly && link == .pattern { queue.offer(.sourceWatching(source: name, watching: false, at: now)) }
        currentNotReadyReason()
        return newly
    }

    /// Notes that `link` is held again (or no longer needed); records the gap this closes.
    func linkRestored(_ link: Link) {
        let now = wallClockSeconds()
        let gap = shared.withLock { state in
            if link == .pattern {
                state.patternSubscribed = true
                state.probes.reset()
            }
            return state.coverage.restored(link, at: now)
        }
        if link == .pattern { queue.offer(.sourceWatching(source: name, watching: true, at: now)) }
        currentNotReadyReason()
        guard let gap else { return }
        gapSeconds.increment(by: gap.end - gap.start)
        queue.offer(.gap(source: name, start: gap.start, end: gap.end))
        logger.warning("every subscription is back after a gap", metadata: [
            "source": "\(name)", "gap": "\(Duration.seconds(gap.end - gap.start))",
        ])
    }

    /// Classic and shard channels' subscribers summed over the nodes, Lookout's own left out.
    public func subscriberCounts() async -> [String: Int] {
        shared.withLock { state in
            state.numsub.merging(state.shardNumsub.mapValues { max(0, $0 - 1) }, uniquingKeysWith: +)
        }
    }

    public func namedSubscriberOutputBytes() async -> [String: Int] {
        shared.withLock { $0.namedOutput }
    }

    public var unattributedPatterns: Int {
        get async { shared.withLock { $0.otherPatterns } }
    }

    public var details: SourceDetails {
        get async { shared.withLock { SourceDetails(reconnects: $0.reconnectCount, probeRoundTrip: $0.lastProbeRoundTrip) } }
    }

    public func run() async throws {
        // hiredis blocks: each loop gets a thread of its own, never an event loop or the
        // cooperative pool. They check `stopping` at least every 200 ms.
        let pool = NIOThreadPool(numberOfThreads: 3)
        pool.start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { try? await pool.runIfActive { self.subscribeLoop() } }
                    group.addTask { try? await pool.runIfActive { self.pollLoop() } }
                    group.addTask { try? await pool.runIfActive { self.shardLoop() } }
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

    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// True (after waiting, up to 200 ms) while the subscriptions have nothing to do: before the
    /// first topology read, and for good once this source is merged into another.
    func standingBy() -> Bool {
        let (tried, merged) = shared.withLock { ($0.topologyTried, $0.mergedInto != nil) }
        guard !tried || merged else { return false }
        sleep(.milliseconds(tried ? 200 : 10))
        return true
    }

    func sleep(_ duration: Duration, orUntil wake: () -> Bool = { false }) {
        let end = ContinuousClock.now + duration
        while !isStopping && ContinuousClock.now < end && !wake() { usleep(20_000) }
    }

    /// The seeds, then every other node known: where to connect when one node will not do.
    var candidateNodes: [RedisEndpoint] {
        let known = shared.withLock { $0.topology.nodes }.map(\.endpoint)
        return configuration.url.seeds + known.filter { !configuration.url.seeds.contains($0) }
    }
}
