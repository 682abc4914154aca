import Logging
import Prometheus
import Relay
import ServiceLifecycle
import Synchronization

/// Drains observations into per-channel statistics and Prometheus series, and polls the relay
/// for subscriber counts and its own counters. Runs as a `Service` until graceful shutdown.
public final class ChannelMonitor: Service, Sendable {
    /// How often observations are drained, and how often rates and subscriber counts refresh.
    public struct Configuration: Sendable {
        public var drainInterval: Duration = .milliseconds(100)
        public var refreshInterval: Duration = .seconds(1)
        public var grouping = ChannelGrouping()

        public init() {}
    }

    private struct State: Sendable {
        var grouping: ChannelGrouping
        var statistics = ChannelStatistics()
        var series: [String: MonitorMetrics.ChannelSeries] = [:]
        /// Absolute counters already added to their Prometheus counters.
        var exported: [String: UInt64] = [:]
    }

    public let queue: ObservationQueue
    public let metrics: MonitorMetrics
    private let sources: [any MonitoredSource]
    private let relay: RelayServer?
    private let configuration: Configuration
    private let logger: Logger
    private let state: Mutex<State>

    /// - Parameters:
    ///   - sources: where subscriber counts come from; a ``RelaySource`` also provides the
    ///     relay's own counters.
    public init(queue: ObservationQueue, metrics: MonitorMetrics, sources: [any MonitoredSource],
                configuration: Configuration = .init(), logger: Logger = Logger(label: "lookout.monitor")) {
        self.queue = queue
        self.metrics = metrics
        self.sources = sources
        self.relay = sources.lazy.compactMap { ($0 as? RelaySource)?.relay }.first
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(State(grouping: configuration.grouping))
    }

    public func run() async throws {
        var lastRefresh = ContinuousClock.now
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            processQueued()
            if ContinuousClock.now - lastRefresh >= configuration.refreshInterval {
                lastRefresh = .now
                await refresh()
            }
            try? await Task.sleep(for: configuration.drainInterval)
        }
        processQueued()
    }

    /// Applies everything queued so far.
    public func processQueued() {
        let batch = queue.drain()
        guard !batch.isEmpty else { return }
        state.withLock { state in
            for observation in batch {
                switch observation {
                case .message(let channel, let bytes, let receivers, let time):
                    guard let label = state.grouping.label(for: channel) else { continue }
                    state.statistics.recordMessage(label: label, bytes: bytes, receivers: receivers, at: time)
                    let series = Self.series(label, in: &state, metrics: metrics)
                    series.messages.increment()
                    series.bytes.increment(by: Int64(bytes))
                    if receivers == 0 { series.unrouted.increment() }
                case .latency(let channel, let seconds):
                    guard let label = state.grouping.label(for: channel) else { continue }
                    Self.series(label, in: &state, metrics: metrics).latency.record(seconds)
                }
            }
        }
    }

    private static func series(_ label: String, in state: inout State, metrics: MonitorMetrics) -> MonitorMetrics.ChannelSeries {
        if let existing = state.series[label] { return existing }
        let created = metrics.series(for: label)
        state.series[label] = created
        return created
    }

    /// Recomputes rates and pulls subscriber counts and counters from the relay.
    public func refresh() async {
        let now = wallClockSeconds()
        var subscriberCounts: [String: Int] = [:]
        for source in sources {
            subscriberCounts.merge(await source.subscriberCounts(), uniquingKeysWith: +)
        }
        var relayStatistics: RelayStatistics?
        if let relay { relayStatistics = try? await relay.statistics() }
        state.withLock { state in
            var byLabel: [String: Int] = [:]
            for (channel, count) in subscriberCounts {
                guard let label = state.grouping.label(for: channel) else { continue }
                byLabel[label, default: 0] += count
            }
            state.statistics.replaceSubscribers(byLabel)
            for (label, channel) in state.statistics.channels {
                Self.series(label, in: &state, metrics: metrics).subscribers.set(Int64(channel.subscribers))
            }
            state.statistics.tick(now: now)
            metrics.trackedChannels.set(Int64(state.series.count))
            Self.export(state.grouping.overflowCount, as: "overflow", to: metrics.channelsOverflowed, state: &state)
            Self.export(queue.droppedCount, as: "dropped", to: metrics.observationsDropped, state: &state)
            if let relayStatistics {
                metrics.relayClients.set(Int64(relayStatistics.connectedClients))
                Self.export(relayStatistics.slowSubscriberDisconnects, as: "slow", to: metrics.relaySlowSubscriberDisconnects, state: &state)
            }
        }
    }

    /// Adds the growth of an absolute count since the last export to a Prometheus counter.
    private static func export(_ total: UInt64, as key: String, to counter: Counter, state: inout State) {
        let previous = state.exported[key] ?? 0
        if total > previous { counter.increment(by: Int64(total - previous)) }
        state.exported[key] = total
    }

    /// Names of sources that are not connected.
    public func sourcesNotReady() async -> [String] {
        var waiting: [String] = []
        for source in sources where !(await source.isConnected) { waiting.append(source.name) }
        return waiting
    }

    /// The current per-channel numbers.
    public func channels() -> [String: ChannelStatistics.Channel] {
        state.withLock { $0.statistics.channels }
    }
}
