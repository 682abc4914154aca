import Foundation
import Glob
import Logging
import LookoutCore
import LookoutMetrics
import NIOPosix
import Observations
import Prometheus
import ServiceLifecycle
import Synchronization

/// Watches Redis Streams consumer groups (sidecar mode, opt-in with `streams.match`): finds the
/// streams whose keys match on every primary with an incremental `SCAN … TYPE stream`, and every
/// `streams.interval` reads each one's `XINFO STREAM`/`GROUPS`/`CONSUMERS` and `XPENDING`,
/// pipelined per node in two round trips, into `lookout_stream_*` series (see
/// ``StreamGroupFigures`` for what is judged). A cluster's streams are read on the primary that
/// holds them, once each.
public final class RedisStreamWatch: Service, Sendable {
    public struct Configuration: Sendable {
        public var url: RedisURL
        /// Globs of the stream keys to watch.
        public var match: [String]
        public var interval: Duration = .seconds(5)
        /// Streams watched at most; the others are counted (`lookout_stream_unwatched_streams`).
        public var maxStreams = 1_000
        /// Deliveries from which a pending entry is poison.
        public var poisonDeliveries = 5
        /// A consumer holding pending entries and idle this long is dead.
        public var deadAfter: Duration = .seconds(300)
        /// Pending entries read per group per poll for their delivery counts (the oldest ones).
        public var pendingPage = 100
        /// Consumers exported at most, over every group (the others are counted in the group's figures only).
        public var maxConsumers = 10_000
        /// `SCAN` calls per node per poll, each asking for 1,000 keys: discovery goes on where it
        /// stopped at the next poll.
        public var scanStepsPerPoll = 10

        public init(url: RedisURL, match: [String]) {
            self.url = url
            self.match = match
        }
    }

    public let configuration: Configuration
    private let registry: PrometheusCollectorRegistry
    /// Where stream consumers' liveness goes, for the consumer model (states, alerts, history).
    private let queue: ObservationQueue?
    /// Where each poll's group figures are kept (the store).
    private let history: (any StreamGroupSink)?
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    private let pollSeconds: Gauge
    private let watched: Gauge
    private let unwatched: Gauge
    private let polls: Counter
    private let errors: Counter
    /// Every group as the last poll saw it.
    private let latest = Mutex<[StreamGroupStatus]>([])

    /// - Parameter queue: the monitor's queue: each stream consumer is a consumer there, named
    ///   `stream/group/consumer` in group `stream/group`, up while it reads or holds nothing,
    ///   away (then down) once dead.
    /// - Parameter history: where every poll's group figures go to be kept.
    public init(configuration: Configuration, registry: PrometheusCollectorRegistry, queue: ObservationQueue? = nil,
                history: (any StreamGroupSink)? = nil, logger: Logger = Logger(label: "lookout.streams")) {
        self.configuration = configuration
        self.registry = registry
        self.queue = queue
        self.history = history
        self.logger = logger
        let source = [("source", configuration.url.description)]
        pollSeconds = registry.gauge("lookout_stream_poll_duration_seconds", labels: source, help: "How long the last poll of every watched stream took.")
        watched = registry.gauge("lookout_stream_watched_streams", labels: source, help: "Streams watched (matching streams.match, up to streams.max).")
        unwatched = registry.gauge("lookout_stream_unwatched_streams", labels: source, help: "Matching streams beyond streams.max, not watched.")
        polls = registry.counter("lookout_stream_polls_total", labels: source, help: "Polls of the watched streams.")
        errors = registry.counter("lookout_stream_poll_errors_total", labels: source,
                                  help: "Stream reads that failed (a stream deleted or changed type mid-poll, a node unreachable, an unexpected reply).")
    }

    public func run() async throws {
        // hiredis blocks: the loop gets a thread of its own.
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await pool.runIfActive { self.loop() }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        try? await pool.shutdownGracefully()
    }

    public func stop() { stopping.store(true, ordering: .relaxed) }

    /// Every watched group as the last poll saw it, by stream then group.
    public var groups: [StreamGroupStatus] { latest.withLock { $0 } }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) }

    private func loop() {
        var state = WatchState()
        while !isStopping {
            let began = ContinuousClock.now
            poll(&state)
            pollSeconds.set((ContinuousClock.now - began).seconds)
            polls.increment()
            let end = began + configuration.interval
            while !isStopping && ContinuousClock.now < end { usleep(20_000) }
        }
    }

    /// What the watch keeps between polls.
    struct WatchState {
        var connections: [RedisEndpoint: RedisConnection] = [:]
        /// Where each node's SCAN goes on from ("0": a new round).
        var cursors: [RedisEndpoint: String] = [:]
        /// The streams found, by the node that holds them.
        var streams: [RedisEndpoint: Set<String>] = [:]
        var overLimit: Set<String> = []
        var loggedOverLimit = false
        var series = SeriesSet()
        /// Per stream: entries added at the last poll; per group ([stream, group]): what was lost unread so far.
        var entriesAdded: [String: Int] = [:]
        var removedUnread: [[String]: RemovedUnreadCount] = [:]
        /// Consumers judged dead at the last poll (stream, group, consumer), for one log line each way.
        var dead: Set<[String]> = []
        var deadNow: Set<[String]> = []
        /// What the monitor was last told of each stream consumer ([stream, group, consumer]): alive (true) or dead.
        var told: [[String]: Bool] = [:]
        /// Streams this poll read, or found gone: what it did not see of them is gone.
        var settled: Set<String> = []
        /// The groups ([stream, group]) and consumers ([stream, group, consumer]) this poll saw.
        var seen: Set<[String]> = []
        /// The groups seen in the poll under way.
        var groups: [StreamGroupStatus] = []

        var streamCount: Int { streams.values.reduce(0) { $0 + $1.count } }
    }

    private func poll(_ state: inout WatchState) {
        let primaries = readPrimaries(&state)
        for node in state.connections.keys where !primaries.contains(node) {
            state.connections[node] = nil
            state.cursors[node] = nil
            state.streams[node] = nil
        }
        for node in primaries { discover(on: node, &state) }
        state.series.beginPoll()
        state.groups.removeAll(keepingCapacity: true)
        state.settled.removeAll(keepingCapacity: true)
        state.seen.removeAll(keepingCapacity: true)
        var consumersLeft = configuration.maxConsumers
        let now = wallClockSeconds()
        for node in primaries {
            guard let keys = state.streams[node], !keys.isEmpty else { continue }
            read(Array(keys).sorted(), on: node, now: now, consumersLeft: &consumersLeft, &state)
        }
        state.series.endPoll(registry)
        forgetGone(now: now, &state)
        for back in state.dead.subtracting(state.deadNow) {
            logger.notice("stream consumer alive again (or gone)", metadata: ["stream": "\(back[0])", "group": "\(back[1])", "consumer": "\(back[2])"])
        }
        (state.dead, state.deadNow) = (state.deadNow, [])
        let polled = state.groups.sorted { ($0.stream, $0.group) < ($1.stream, $1.group) }
        latest.withLock { $0 = polled }
        history?.record(streamGroups: polled, at: now, interval: configuration.interval.seconds)
        watched.set(Int64(state.streamCount))
        unwatched.set(Int64(state.overLimit.count))
    }

    /// The primaries of the deployment (the seed alone when it cannot be read).
    private func readPrimaries(_ state: inout WatchState) -> [RedisEndpoint] {
        for seed in configuration.url.seeds {
            guard let topology = on(seed, &state, { try $0.readTopology(seed) }) ?? nil else { continue }
            return topology.shards.compactMap { $0.primary?.endpoint }
        }
        return configuration.url.seeds
    }

    /// Runs `body` on `node`'s connection, opened if needed; a failure drops the connection
    /// (counted, reopened at the next poll) and answers nil.
    private func on<T>(_ node: RedisEndpoint, _ state: inout WatchState, _ body: (RedisConnection) throws -> T) -> T? {
        do {
            let connection: RedisConnection
            if let open = state.connections[node] {
                connection = open
            } else {
                connection = try RedisConnection(configuration.url.on(node), clientName: "lookout-streams")
                state.connections[node] = connection
            }
            return try body(connection)
        } catch {
            state.connections[node] = nil
            errors.increment()
            logger.debug("stream poll of a node failed", metadata: ["node": "\(node)", "error": "\(error)"])
            return nil
        }
    }

    /// A few steps of `node`'s SCAN round; streams found are added up to the limit.
    private func discover(on node: RedisEndpoint, _ state: inout WatchState) {
        let single = configuration.match.count == 1 ? configuration.match[0] : nil
        for _ in 0..<configuration.scanStepsPerPoll {
            let cursor = state.cursors[node] ?? "0"
            var words = ["SCAN", cursor, "COUNT", "1000", "TYPE", "stream"]
            if let single { words += ["MATCH", single] }
            guard let reply = on(node, &state, { try $0.command(words) }),
                  case .array(let parts) = reply, parts.count == 2, let next = parts[0].text, case .array(let keys) = parts[1] else { return }
            for key in keys.compactMap(\.text) where single != nil || configuration.match.contains(where: { GlobPattern.matches(pattern: $0, subject: key) }) {
                guard state.streams[node]?.contains(key) != true else { continue }
                if state.streamCount < configuration.maxStreams {
                    state.streams[node, default: []].insert(key)
                } else if state.overLimit.insert(key).inserted, !state.loggedOverLimit {
                    state.loggedOverLimit = true
                    logger.warning("more streams match streams.match than streams.max: the others are not watched (lookout_stream_unwatched_streams)",
                                   metadata: ["max": "\(configuration.maxStreams)"])
                }
            }
            state.cursors[node] = next
            if next == "0" { return }
        }
    }

    /// Reads `keys` on `node` in two pipelined round trips (each stream and its groups; then
    /// each group's consumers, pending entries and first unread entry) and sets their series.
    private func read(_ keys: [String], on node: RedisEndpoint, now: Double, consumersLeft: inout Int, _ state: inout WatchState) {
        let first = on(node, &state) { connection -> [RedisReply] in
            for key in keys {
                try connection.append(["XINFO", "STREAM", key])
                try connection.append(["XINFO", "GROUPS", key])
            }
            return try keys.flatMap { _ in [try connection.nextReply(), try connection.nextReply()] }
        }
        guard let first else { return }
        var found: [(key: String, stream: StreamSummary, groups: [StreamGroupSummary])] = []
        for (index, key) in keys.enumerated() {
            guard let stream = StreamSummary.parse(first[2 * index]), let groups = StreamGroupSummary.parseAll(first[2 * index + 1]) else {
                // Deleted, of another type now, or moved to another node: found again by SCAN if it exists.
                errors.increment()
                state.streams[node]?.remove(key)
                state.settled.insert(key)
                continue
            }
            found.append((key, stream, groups))
        }
        let second = on(node, &state) { connection -> [RedisReply] in
            var count = 0
            for (key, _, groups) in found {
                for group in groups {
                    try connection.append(["XINFO", "CONSUMERS", key, group.name])
                    try connection.append(["XPENDING", key, group.name])
                    try connection.append(["XPENDING", key, group.name, "-", "+", "\(configuration.pendingPage)"])
                    try connection.append(["XRANGE", key, "(\(group.lastDeliveredID)", "+", "COUNT", "1"])
                    count += 4
                }
            }
            return try (0..<count).map { _ in try connection.nextReply() }
        }
        guard let second else { return }
        var replies = second[...]
        for (key, stream, groups) in found {
            state.settled.insert(key)
            record(stream: key, stream, now: now, &state)
            for group in groups {
                state.seen.insert([key, group.name])
                let (consumers, summary, page, range) = (replies.popFirst()!, replies.popFirst()!, replies.popFirst()!, replies.popFirst()!)
                let pending = StreamPending.parse(summary: summary, page: page)
                var firstUnread: StreamEntryID?
                if case .array(let entries) = range, case .array(let entry)? = entries.first { firstUnread = entry.first?.text.flatMap(StreamEntryID.init) }
                if pending == nil { errors.increment() }
                let figures = StreamGroupFigures.judge(stream: stream, group: group, pending: pending, firstUnread: firstUnread,
                                                       poisonDeliveries: configuration.poisonDeliveries, now: now)
                let (lost, lostNow) = record(group: group, of: key, figures, &state)
                let members = StreamConsumerSummary.parseAll(consumers) ?? []
                state.groups.append(StreamGroupStatus(
                    source: configuration.url.description, stream: key, group: group.name, length: stream.length, consumers: group.consumers,
                    pending: group.pending, lag: figures.lag, oldestUnreadAge: figures.oldestUnreadAge, oldestPendingAge: figures.oldestPendingAge,
                    poison: figures.poison, lostUnread: lost, lostUnreadInPoll: lostNow, deadConsumers: members.filter { $0.isDead(after: configuration.deadAfter) }.map(\.name)))
                // Every member is still there, exported or not (beyond the cap, a consumer told before is not gone).
                for consumer in members { state.seen.insert([key, group.name, consumer.name]) }
                for consumer in members where consumersLeft > 0 {
                    consumersLeft -= 1
                    let labels = seriesLabels(key, [("group", group.name), ("consumer", consumer.name)])
                    state.series.gauge("lookout_stream_consumer_pending_entries", labels, registry,
                                       help: "Entries delivered to the consumer and not acknowledged.").set(Int64(consumer.pending))
                    state.series.gauge("lookout_stream_consumer_idle_seconds", labels, registry,
                                       help: "Seconds since the consumer last tried to read.").set(Double(consumer.idleMilliseconds) / 1000)
                    let dead = consumer.isDead(after: configuration.deadAfter)
                    state.series.gauge("lookout_stream_consumer_dead", labels, registry,
                                       help: "1 when the consumer holds pending entries and has been idle for streams.dead_after.").set(Int64(dead ? 1 : 0))
                    tell(consumer, of: group.name, on: key, dead: dead, now: now, &state)
                    if dead {
                        let id = [key, group.name, consumer.name]
                        state.deadNow.insert(id)
                        if !state.dead.contains(id) {
                            logger.warning("stream consumer dead: it holds pending entries and has not read for streams.dead_after", metadata: [
                                "stream": "\(key)", "group": "\(group.name)", "consumer": "\(consumer.name)",
                                "pending": "\(consumer.pending)", "idle": "\(Duration.milliseconds(consumer.idleMilliseconds))",
                            ])
                        }
                    }
                }
            }
        }
    }

    /// Hands a stream consumer's liveness to the consumer model when it changes (and when first
    /// seen: a consumer first seen dead is started, then reported gone, so that it goes down).
    private func tell(_ consumer: StreamConsumerSummary, of group: String, on stream: String, dead: Bool, now: Double, _ state: inout WatchState) {
        guard let queue else { return }
        let name = "\(stream)/\(group)/\(consumer.name)"
        let before = state.told[[stream, group, consumer.name]]
        guard before != !dead else { return }
        state.told[[stream, group, consumer.name]] = !dead
        if before == nil || !dead {
            queue.offer(.namedConnection(name: name, subscribed: true, reason: "", group: "\(stream)/\(group)", kind: .stream, at: now))
        }
        if dead {
            let reason = "stream consumer holds \(consumer.pending) pending entries and has not read for \(Duration.milliseconds(consumer.idleMilliseconds))"
            queue.offer(.namedConnection(name: name, subscribed: false, reason: reason, group: "\(stream)/\(group)", kind: .stream, at: now))
        }
    }

    /// Forgets what the poll found gone from a stream it read (or found deleted): a group
    /// destroyed, a consumer deleted (`XGROUP DELCONSUMER`), the whole stream. A consumer the
    /// model knows leaves it as a consumer that said goodbye (`stopped`: nothing fires, a
    /// firing alert resolves). Streams a poll could not read keep everything until it can.
    private func forgetGone(now: Double, _ state: inout WatchState) {
        let (settled, seen) = (state.settled, state.seen)
        let gone = { (key: [String]) in settled.contains(key[0]) && !seen.contains(key) }
        for key in state.told.keys where gone(key) {
            state.told[key] = nil
            let goodbye = StreamConsumerGoodbye(consumer: "\(key[0])/\(key[1])/\(key[2])", group: "\(key[0])/\(key[1])")
            if let payload = try? JSONEncoder().encode(goodbye) { queue?.offer(.heartbeat(payload: Array(payload), at: now)) }
            logger.notice("stream consumer gone from its group: it leaves the consumer model as stopped", metadata: [
                "stream": "\(key[0])", "group": "\(key[1])", "consumer": "\(key[2])",
            ])
        }
        for key in state.removedUnread.keys where gone(key) { state.removedUnread[key] = nil }
        for key in state.entriesAdded.keys where !state.streams.values.contains(where: { $0.contains(key) }) { state.entriesAdded[key] = nil }
    }

    private func seriesLabels(_ stream: String, _ more: [(String, String)] = []) -> [(String, String)] {
        [("source", configuration.url.description), ("stream", stream)] + more
    }

    private func record(stream key: String, _ stream: StreamSummary, now: Double, _ state: inout WatchState) {
        let labels = seriesLabels(key)
        state.series.gauge("lookout_stream_length", labels, registry, help: "Entries in the stream.").set(Int64(stream.length))
        let added = state.series.counter("lookout_stream_entries_added_total", labels, registry,
                                         help: "Entries added to the stream while Lookout watched it (Redis 7's entries-added).")
        if let total = stream.entriesAdded {
            if let last = state.entriesAdded[key], total > last { added.increment(by: Int64(total - last)) }
            state.entriesAdded[key] = total
        }
        if let time = stream.lastGeneratedID.time {
            state.series.gauge("lookout_stream_last_entry_timestamp_seconds", labels, registry,
                               help: "When the newest entry was added (from its id).").set(time)
        }
        if let time = stream.firstEntryID?.time {
            state.series.gauge("lookout_stream_first_entry_timestamp_seconds", labels, registry,
                               help: "When the oldest entry still in the stream was added (from its id).").set(time)
        }
    }

    /// Sets the group's series; returns the entries it lost unread since the watch began, and in this poll.
    private func record(group: StreamGroupSummary, of key: String, _ figures: StreamGroupFigures,
                        _ state: inout WatchState) -> (total: Int, now: Int) {
        let labels = seriesLabels(key, [("group", group.name)])
        let series = state.series
        series.gauge("lookout_stream_group_lag_known", labels, registry,
                     help: "1 when the group's lag is known; 0 when neither Redis nor the ids can tell it.").set(Int64(figures.lag == nil ? 0 : 1))
        if let lag = figures.lag {
            series.gauge("lookout_stream_group_lag_entries", labels, registry,
                         help: "Entries still in the stream not yet delivered to the group.").set(Int64(lag))
        }
        series.gauge("lookout_stream_group_pending_entries", labels, registry,
                     help: "Entries delivered to the group's consumers and not acknowledged.").set(Int64(group.pending))
        series.gauge("lookout_stream_group_consumers", labels, registry, help: "Consumers of the group.").set(Int64(group.consumers))
        if let age = figures.oldestUnreadAge {
            series.gauge("lookout_stream_group_oldest_unread_age_seconds", labels, registry,
                         help: "Seconds since the oldest entry not yet delivered to the group was added (0: none waits).").set(age)
        }
        if let age = figures.oldestPendingAge {
            series.gauge("lookout_stream_group_oldest_pending_age_seconds", labels, registry,
                         help: "Seconds since the oldest entry delivered and not acknowledged was added (0: none).").set(age)
        }
        series.gauge("lookout_stream_group_poison_entries", labels, registry,
                     help: "Pending entries (among the oldest streams.pending_page) delivered at least streams.poison_deliveries times.")
            .set(Int64(figures.poison))
        let removed = state.series.counter("lookout_stream_group_trimmed_unread_entries_total", labels, registry,
                                           help: "Entries removed from the stream (trimmed or deleted) before the group read them: lost to it.")
        let id = [key, group.name]
        let grown = state.removedUnread[id, default: RemovedUnreadCount()].observe(figures.removedUnread)
        if grown > 0 {
            removed.increment(by: Int64(grown))
            logger.error("stream entries removed before a consumer group read them", metadata: [
                "stream": "\(key)", "group": "\(group.name)", "entries": "\(grown)",
            ])
        }
        return (state.removedUnread[id]?.total ?? 0, grown)
    }
}

/// The watch's series, by name and labels: those not set during a poll (a stream deleted, a
/// group destroyed, a consumer gone) are unregistered at its end.
final class SeriesSet {
    enum Series {
        case gauge(Gauge)
        case counter(Counter)
    }

    private var series: [String: Series] = [:]
    private var touched: Set<String> = []

    func beginPoll() { touched.removeAll(keepingCapacity: true) }

    func gauge(_ name: String, _ labels: [(String, String)], _ registry: PrometheusCollectorRegistry, help: String) -> Gauge {
        let found = find(name, labels) { registry.gauge(name, labels: labels, help: help).series }
        guard case .gauge(let gauge) = found else { preconditionFailure("\(name) is a gauge") }
        return gauge
    }

    func counter(_ name: String, _ labels: [(String, String)], _ registry: PrometheusCollectorRegistry, help: String) -> Counter {
        let found = find(name, labels) { registry.counter(name, labels: labels, help: help).series }
        guard case .counter(let counter) = found else { preconditionFailure("\(name) is a counter") }
        return counter
    }

    /// The series of `name` and `labels`, made the first time; marked as set in this poll.
    private func find(_ name: String, _ labels: [(String, String)], make: () -> Series) -> Series {
        let key = ([name] + labels.map { "\($0.0)=\($0.1)" }).joined(separator: "\u{0}")
        touched.insert(key)
        if let existing = series[key] { return existing }
        let made = make()
        series[key] = made
        return made
    }

    func endPoll(_ registry: PrometheusCollectorRegistry) {
        for (key, gone) in series where !touched.contains(key) {
            switch gone {
            case .gauge(let gauge): registry.unregisterGauge(gauge)
            case .counter(let counter): registry.unregisterCounter(counter)
            }
            series[key] = nil
        }
    }

}

private extension Gauge {
    var series: SeriesSet.Series { .gauge(self) }
}

private extension Counter {
    var series: SeriesSet.Series { .counter(self) }
}

/// The heartbeat (contract v1) a stream consumer deleted from its group leaves with: a goodbye.
private struct StreamConsumerGoodbye: Encodable {
    var v = 1
    var consumer: String
    var group: String
    var state = "stopping"
}
