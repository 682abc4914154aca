import GracefulStop
import Logging
import LookoutCore
import Prometheus
import Observations
import ServiceLifecycle
import Synchronization

/// The monitor's core: drains observations into per-channel statistics, the consumers' failure
/// detectors and the Prometheus series; every second it refreshes rates and subscriber counts
/// from the sources and reports what is unhealthy. Runs as a `Service` until graceful shutdown.
public final class ChannelMonitor: Service, Sendable {
    /// How often observations are drained, and how often rates and subscriber counts refresh.
    public struct Configuration: Sendable {
        /// At 700,000 messages a second (a maximal publisher on Redis), 10 ms is 7,000
        /// observations: far below the queue's capacity.
        public var drainInterval: Duration = .milliseconds(10)
        /// How often the failure detectors are checked against the clock.
        public var evaluationInterval: Duration = .milliseconds(100)
        /// Most observations one pass of the loop takes in: a burst (10,000 consumers starting
        /// together) is taken in over several passes, so the detectors, the refresh and scrapes
        /// (which wait for the monitor's state) are never held up by all of it at once.
        public var batchLimit = 2_048
        public var refreshInterval: Duration = .seconds(1)
        public var grouping = ChannelGrouping()
        public var detector = ConsumerStateMachine.Configuration()
        /// A channel counts as carrying traffic while its last message is at most this old (seconds).
        public var trafficWindow: Double = 60
        /// How often the store is handed a consumer whose only news is a later heartbeat or
        /// moving progress counts; a change of standing (state, group, channels…) goes at once.
        public var consumerRowInterval: Double = 5
        /// Globs the user declares consumed through patterns (`consumers.patterns`): on Redis,
        /// whose patterns cannot be listed, a channel they match is consumed while some pattern
        /// subscription exists.
        public var consumedPatterns: [String] = []
        /// Lookout's own channels (heartbeats, alerts, probes): never reported as consumer-less.
        public var ownChannels: Set<String> = [OwnChannels.heartbeat, OwnChannels.alerts, OwnChannels.probe]
        /// Where the monitor's events go, in this order (``MonitorEvent``): the store, the alert router.
        public var sinks: [any MonitorSink] = []
        /// Messages on contracted channels, handed over to be judged; nil without contracts.
        public var events: EventHandOver?
        /// How much of a violating payload is kept.
        public var violationPayloadBytes = 1024
        /// Where the loop runs: nil, the shared concurrency pool; Lookout gives it a
        /// ``BackgroundExecutor`` of its own, below the relay's priority.
        public var executor: (any TaskExecutor)?
        /// What the drain, evaluation and refresh intervals are measured on.
        public var clock: any Clock<Duration> = ContinuousClock()
        /// Seconds since the epoch: the time of detector checks, buckets and health snapshots.
        public var wallClock: @Sendable () -> Double = wallClockSeconds

        public init() {}
    }

    struct State: Sendable {
        var grouping: ChannelGrouping
        var statistics = ChannelStatistics()
        var tracker: HeartbeatTracker
        /// Each consumer's running counts as last added to its Prometheus counters.
        var reported: [ConsumerSeriesTable.Key: ReportedCounts] = [:]
        var series: [String: MonitorMetrics.ChannelSeries] = [:]
        /// Absolute counters already added to their Prometheus counters.
        var exported: [String: UInt64] = [:]
        /// The event-integrity checks, with contracts.
        var ledger: IntegrityLedger?
        var integritySeries: [String: MonitorMetrics.IntegritySeries] = [:]
        /// Integrity counts since the last refresh, per channel label.
        var integrityTally: [String: IntegrityCounts] = [:]
        var shapes = InferredShapes()
        /// Per channel label, the pattern subscriptions its last message reached, where the
        /// source could tell (the relay).
        var patternReceivers: [String: Int] = [:]
        /// The consumers the store is handed at the next refreshes.
        var rows: ConsumerRowSchedule
    }

    struct ReportedCounts: Sendable {
        var processed: UInt64 = 0
        var failed: UInt64 = 0
        var missed: UInt64 = 0
        var restarts: UInt64 = 0
        var reconnects: UInt64 = 0
    }

    public let queue: ObservationQueue
    public let metrics: MonitorMetrics
    let sources: [any MonitoredSource]
    let configuration: Configuration
    let logger: Logger
    let state: Mutex<State>
    /// The time up to which observations have been taken in: when the last completed drain
    /// began (everything offered before it was in that batch). Silence is judged up to here,
    /// never past it. Apart from `state`, so the lag can be read while a batch is applied.
    let watermark: Mutex<Double>
    /// How many of the queue's observations have been applied, with what they changed handed on.
    private let applied = AppliedMark()
    /// Cleared when Lookout begins to stop (``stopJudging()``).
    private let judging = Atomic<Bool>(true)
    /// When the loop last began an iteration (for the service manager's watchdog).
    private let lastIteration = Mutex(ContinuousClock.now)
    /// Whether the monitor is behind now (for one log line per episode), and since when.
    private let behindSince = Mutex<Double?>(nil)
    private let invalidHeartbeatLog = RateLimitedLog(interval: 10)
    private let reconnectLog = RateLimitedLog(interval: 10)
    let violationLog = RateLimitedLog(interval: 10)

    /// - Parameters:
    ///   - sources: where subscriber counts come from; each writes its own `lookout_source_*` series.
    public init(queue: ObservationQueue, metrics: MonitorMetrics, sources: [any MonitoredSource],
                configuration: Configuration = .init(), logger: Logger = Logger(label: "lookout.monitor")) {
        self.queue = queue
        self.metrics = metrics
        self.sources = sources
        self.configuration = configuration
        self.logger = logger
        var state = State(grouping: configuration.grouping, tracker: HeartbeatTracker(configuration: configuration.detector),
                          rows: ConsumerRowSchedule(routineInterval: configuration.consumerRowInterval))
        state.ledger = configuration.events.map { IntegrityLedger(contracts: $0.contracts) }
        self.state = Mutex(state)
        self.watermark = Mutex(configuration.wallClock())
    }

    public func run() async throws {
        guard let executor = configuration.executor else { return await runLoops() }
        await withTaskExecutorPreference(executor) { await self.runLoops() }
    }

    private func runLoops() async {
        // The lag is watched apart from the loop (a loop stuck in a batch cannot report its own
        // lag), by a child task on the shared pool, not on the loop's own thread.
        await withDiscardingTaskGroup { group in
            group.addTask(executorPreference: globalConcurrentExecutor) {
                while !Task.isCancelled {
                    self.reportLag()
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            await cancelWhenStopping {
                await self.run(on: self.configuration.clock)
            }
            group.cancelAll()
        }
        applyWhatIsLeft()
        closeLastBucket()
    }

    /// At shutdown, applies what is still queued, a batch at a time, until the service group's
    /// time for the stop runs out (it cancels the monitor): a monitor far behind does not hold
    /// the stop past its ceiling. What is left then is counted as dropped and logged.
    private func applyWhatIsLeft() {
        while !Task.isCancelled {
            if processQueued(limit: configuration.batchLimit) { return }
        }
        let left = queue.discardAll()
        guard left > 0 else { return }
        state.withLock { Self.export(queue.droppedCount, as: "dropped", to: metrics.observationsDropped, state: &$0) }
        logger.warning("stopping: observations not applied before the stop's time ran out (lookout_monitor_observations_dropped_total)",
                       metadata: ["observations": "\(left)"])
    }

    /// At shutdown, closes the open bucket and hands it to the store with the payload shapes
    /// changed since their last hand-over, so a graceful stop loses no traffic and nothing
    /// learnt. The sources are stopping: their subscriber counts are not polled (the last ones
    /// stand) and no health is judged (a stopping source is not an outage).
    private func closeLastBucket() {
        let now = configuration.wallClock()
        let (buckets, consumers, integrity, shapes) = state.withLock { state in
            defer { state.integrityTally = [:] }
            return (state.statistics.tick(now: now), state.tracker.consumers, Array(state.integrityTally.values), state.shapes.takeChanged())
        }
        emit(.refreshed(buckets: buckets, consumers: consumers))
        if !integrity.isEmpty { emit(.integrity(integrity)) }
        for (channel, shape) in shapes { emit(.shape(channel: channel, shape: shape)) }
    }

    /// Hands `event` to every sink, in order.
    func emit(_ event: MonitorEvent) {
        for sink in configuration.sinks { sink.receive(event) }
    }

    /// Drains every `drainInterval`, evaluates the detectors every `evaluationInterval` and
    /// refreshes every `refreshInterval`, on `clock`, until graceful shutdown.
    private func run<C: Clock<Duration>>(on clock: C) async {
        var lastRefresh = clock.now
        var lastEvaluation = clock.now
        var longest: Duration = .zero
        while !Task.isCancelled {
            let began = ContinuousClock.now
            lastIteration.withLock { $0 = began }
            let caughtUp = processQueued(limit: configuration.batchLimit)
            if lastEvaluation.duration(to: clock.now) >= configuration.evaluationInterval {
                lastEvaluation = clock.now
                evaluateConsumers()
            }
            if lastRefresh.duration(to: clock.now) >= configuration.refreshInterval {
                lastRefresh = clock.now
                await refresh()
            }
            let took = ContinuousClock.now - began
            if took > longest {
                longest = took
                metrics.monitorLongestIteration.set(took.seconds)
            }
            // Behind: straight on with the next batch (after letting others run).
            if caughtUp {
                try? await clock.sleep(for: configuration.drainInterval)
            } else {
                await Task.yield()
            }
        }
    }

    /// Stops judging silence and health, as Lookout begins to stop: its sources and the relay's
    /// connections are closing, which is not consumers failing. What is queued is still taken in
    /// (heartbeats, goodbyes, traffic) and handed to the store.
    public func stopJudging() {
        judging.store(false, ordering: .relaxed)
    }

    var isJudging: Bool { judging.load(ordering: .relaxed) }

    /// How long ago the loop last began an iteration: a loop stuck in one grows it.
    public var sinceLastIteration: Duration { ContinuousClock.now - lastIteration.withLock { $0 } }

    /// Applies what is queued so far, the oldest `limit` observations at most, and moves the
    /// watermark: to when it was taken when that was everything, else to the time of the
    /// latest observation taken. Returns whether the queue was emptied.
    @discardableResult
    public func processQueued(limit: Int = .max) -> Bool {
        var transitions: [HeartbeatTracker.ConsumerTransition] = []
        var gaps: [MonitorEvent] = []
        var caughtUp = true
        var drainedThrough: UInt64 = 0
        // Drain under the state lock: batches are applied whole and in the order drained.
        let groupTransitions = state.withLock { state -> [HeartbeatTracker.GroupTransition] in
            let drainedAt = configuration.wallClock()
            let (batch, all) = queue.drain(limit: limit)
            drainedThrough = queue.takenCount
            caughtUp = all
            var latest = -Double.infinity
            defer { watermark.withLock { $0 = max($0, all ? drainedAt : latest) } }
            guard !batch.isEmpty else { return [] }
            for observation in batch {
                if let at = observation.at { latest = max(latest, at) }
                switch observation {
                case .heartbeat(let payload, let source, let time):
                    switch state.tracker.receive(payload, from: source, at: time) {
                    case .success(let changes):
                        transitions += changes
                    case .failure(let rejection):
                        metrics.invalidHeartbeats(rejection).increment()
                        invalidHeartbeatLog { suppressed in
                            logger.warning("invalid heartbeat rejected", metadata: [
                                "reason": "\(rejection.rawValue)", "suppressed": "\(suppressed)",
                            ])
                        }
                    }
                case .namedConnection(let name, let subscribed, let reason, let left, let group, let kind, let time):
                    if let transition = state.tracker.namedConnection(name, subscribed: subscribed, at: time, reason: reason, subscriptions: left,
                                                                      group: group, kind: kind) {
                        transitions.append(transition)
                    }
                case .traffic(let channel, let messages, let bytes, let unrouted, let patternReceivers, let time):
                    count(channel, messages: messages, bytes: bytes, unrouted: unrouted, patternReceivers: patternReceivers, at: time, in: &state)
                case .sourceWatching(let source, let watching, let time):
                    if watching {
                        state.tracker.sourceWatchingAgain(source, at: time)
                    } else {
                        state.tracker.sourceStoppedWatching(source, at: time)
                        logger.notice("heartbeats carried by a source that is not watching are not judged until it is back",
                                      metadata: ["source": "\(source)"])
                    }
                case .latencies(let channel, let samples):
                    record(channel, latencies: samples, in: &state)
                case .event(let channel, let payload, let time):
                    judge(channel, payload: payload, at: time, in: &state)
                    configuration.events?.release(bytes: payload.count)
                case .sample(let channel, let payload):
                    inferShape(channel, payload: payload, in: &state)
                    configuration.events?.release(bytes: payload.count)
                case .gap(let source, let start, let end):
                    gaps.append(.gap(source: source, start: start, end: end))
                }
            }
            // After this batch's events: what was skipped meanwhile makes its channel's
            // sequences unknown, and the holes it left are forgotten before they count.
            if let skipped = configuration.events?.takeSkipped() {
                for (channel, count) in skipped {
                    state.ledger?.forgetSequences(on: channel)
                    if let label = state.grouping.label(for: channel) {
                        Self.integritySeries(label, in: &state, metrics: metrics).unvalidated.increment(by: Int64(count))
                    }
                }
            }
            updateConsumerSeries(&state)
            return state.tracker.updateGroups(at: drainedAt)
        }
        report(transitions, groupTransitions)
        for gap in gaps { emit(gap) }
        applied.advance(to: drainedThrough)
        return caughtUp
    }

    /// Waits, at most `timeout`, until the monitor's loop has applied what was queued before the
    /// call: a reader (a scrape, the API) sees what happened before it asked, without applying
    /// anything itself. A monitor far behind is not waited for: the reader gets what is there.
    public func caughtUp(timeout: Duration = .milliseconds(500)) async {
        await applied.wait(until: queue.offeredCount, timeout: timeout)
    }

    /// The time up to which observations have been taken in (see `watermark`).
    public var takenInUntil: Double { watermark.withLock { $0 } }

    /// Sets `lookout_monitor_lag_seconds` (how far behind the wall clock the watermark is) and
    /// logs once when the monitor falls behind, once when it catches up. Called every second
    /// apart from the monitor's loop.
    public func reportLag() {
        let now = configuration.wallClock()
        let lag = max(0, now - takenInUntil)
        metrics.monitorLag.set(lag)
        behindSince.withLock { since in
            if since == nil, lag >= 2 {
                since = now - lag
                logger.warning("monitor behind: observations are taken in late, and silence is judged only up to what has been taken in",
                               metadata: ["lag": "\(Duration.seconds(lag.rounded()))"])
            } else if let start = since, lag < 1 {
                since = nil
                logger.notice("monitor caught up", metadata: ["behind for": "\(Duration.seconds((now - start).rounded()))"])
            }
        }
    }

    private func count(_ channel: String, messages: Int, bytes: Int, unrouted: Int, patternReceivers: Int?, at time: Double,
                       in state: inout State) {
        state.tracker.noteMessage(on: channel, messages: messages, at: time)
        // The monitor itself receives Lookout's own channels: they are never published to nobody.
        let unrouted = configuration.ownChannels.contains(channel) ? 0 : unrouted
        guard let label = state.grouping.label(for: channel) else { return }
        if label == ChannelGrouping.overflowLabel { state.grouping.countOverflow(messages: messages) }
        state.statistics.record(label: label, messages: messages, bytes: bytes, unrouted: unrouted, at: time)
        if let patternReceivers { state.patternReceivers[label] = patternReceivers }
        let series = Self.series(label, in: &state, metrics: metrics)
        series.messages.increment(by: Int64(messages))
        series.bytes.increment(by: Int64(bytes))
        if unrouted > 0 { series.unrouted.increment(by: Int64(unrouted)) }
    }

    private func record(_ channel: String, latencies: [LatencySample], in state: inout State) {
        guard let label = state.grouping.label(for: channel) else { return }
        let histogram = Self.series(label, in: &state, metrics: metrics).latency
        for sample in latencies {
            histogram.record(sample.seconds, count: sample.count)
            state.statistics.recordLatency(label: label, seconds: sample.seconds, count: sample.count)
        }
    }

    /// Runs the failure detectors up to the watermark (never past what has been taken in: a
    /// monitor that fell behind holds its judgement) and reports what changed.
    public func evaluateConsumers() {
        guard isJudging else { return }
        let (transitions, groupTransitions) = state.withLock { state in
            let judged = min(configuration.wallClock(), takenInUntil)
            let transitions = state.tracker.evaluate(now: judged)
            guard !transitions.isEmpty else { return (transitions, [HeartbeatTracker.GroupTransition]()) }
            updateConsumerSeries(&state)
            return (transitions, state.tracker.updateGroups(at: judged))
        }
        report(transitions, groupTransitions)
    }

    private func report(_ transitions: [HeartbeatTracker.ConsumerTransition], _ groupTransitions: [HeartbeatTracker.GroupTransition]) {
        defer {
            for change in groupTransitions {
                logger.log(level: change.to == .healthy ? .info : .warning, "group \(change.to.rawValue)", metadata: [
                    "group": "\(change.group)", "from": "\(change.from.rawValue)", "reason": "\(change.reason)",
                ])
                emit(.groupTransition(change))
            }
        }
        for change in transitions {
            let metadata: Logger.Metadata = [
                "consumer": "\(change.consumer)", "group": "\(change.group)",
                "from": "\(change.transition.from.rawValue)", "reason": "\(change.transition.reason)",
            ]
            switch change.transition.kind {
            case .away:
                // The grace runs: only its end (a reconnect, or down) is news.
                logger.debug("consumer connection away", metadata: metadata)
                continue
            case .reconnect:
                // A pool recycling connections reconnects many times a second: summarised.
                reconnectLog { suppressed in
                    logger.info("consumer reconnected", metadata: metadata.merging(["suppressed": "\(suppressed)"]) { a, _ in a })
                }
                // Counted either way; recorded only when it cost messages.
                if (change.transition.missed ?? 0) == 0 { continue }
            case .restart:
                logger.info("consumer restarted", metadata: metadata)
            case .change:
                let level: Logger.Level = change.transition.to == .down || change.transition.to == .stalled ? .warning : .info
                logger.log(level: level, "consumer \(change.transition.to.rawValue)", metadata: metadata)
            }
            emit(.consumerTransition(change))
        }
    }

    /// Brings the series of the consumers that changed up to date (not every consumer's).
    private func updateConsumerSeries(_ state: inout State) {
        for consumer in state.tracker.takeChanged() {
            state.rows.note(consumer)
            let key = ConsumerSeriesTable.Key(consumer: consumer.consumer, group: consumer.group)
            let progress = consumer.progress
            let before = state.reported[key] ?? ReportedCounts()
            let now = ReportedCounts(processed: consumer.processed ?? before.processed, failed: consumer.failed ?? before.failed,
                                     missed: progress.missed, restarts: progress.restarts, reconnects: progress.reconnects)
            state.reported[key] = now
            // A running counter that went back means the consumer restarted: count from zero again.
            func growth(_ path: KeyPath<ReportedCounts, UInt64>) -> UInt64 {
                let (old, new) = (before[keyPath: path], now[keyPath: path])
                return new >= old ? new - old : new
            }
            metrics.consumers.update(consumer: consumer.consumer, group: consumer.group) { row in
                row.state = consumer.state
                row.lastHeartbeat = consumer.lastHeartbeatAt
                row.lag = Int64(clamping: progress.lag ?? 0)
                row.processingDelay = progress.processingDelay ?? 0
                row.processed &+= growth(\.processed)
                row.failed &+= growth(\.failed)
                row.missed &+= growth(\.missed)
                row.restarts &+= growth(\.restarts)
                row.reconnects &+= growth(\.reconnects)
            }
        }
    }

    /// Resumes consumers saved before a restart (see ``HeartbeatTracker/resume(_:at:)``).
    public func resume(_ consumers: [HeartbeatTracker.ConsumerSnapshot]) {
        state.withLock { state in
            state.tracker.resume(consumers, at: configuration.wallClock())
            updateConsumerSeries(&state)
        }
    }

    /// Takes back the payload shapes a previous run stored (`--infer-shapes`), each channel's
    /// change series from 0.
    public func resume(shapes: [String: PayloadShape]) {
        state.withLock { state in
            state.shapes.restore(shapes)
            for channel in state.shapes.shapes.keys { _ = metrics.shapeChanges(channel) }
        }
    }

    /// Every tracked consumer.
    public func consumers() -> [HeartbeatTracker.ConsumerSnapshot] {
        state.withLock { $0.tracker.consumers }
    }

    /// Names of sources that are not connected; updates `lookout_source_up` on the way.
    public func sourcesNotReady() async -> [String] {
        await sourcesNotReadyWithReasons().map(\.name)
    }

    /// The sources that are not connected, each with why.
    public func sourcesNotReadyWithReasons() async -> [(name: String, reason: String)] {
        await sourceReports().compactMap { source in source.notReadyReason.map { (source.name, $0) } }
    }

    /// Every source with its readiness and details (the API's `/sources`).
    public func sourceReports() async -> [(name: String, notReadyReason: String?, details: SourceDetails)] {
        var reports: [(name: String, notReadyReason: String?, details: SourceDetails)] = []
        for source in sources {
            reports.append((source.name, await source.notReadyReason, await source.details))
        }
        return reports
    }

    /// The current per-channel numbers.
    public func channels() -> [String: ChannelStatistics.Channel] {
        state.withLock { $0.statistics.channels }
    }
}
