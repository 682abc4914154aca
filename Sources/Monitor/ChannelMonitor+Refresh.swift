import LookoutCore
import Observations
import Prometheus
import Synchronization

/// The monitor's refresh, once a second: rates recomputed, subscriber counts and counters pulled
/// from the sources, channels without consumers judged, buckets handed to the store.
extension ChannelMonitor {
    static func series(_ label: String, in state: inout State, metrics: MonitorMetrics) -> MonitorMetrics.ChannelSeries {
        if let existing = state.series[label] { return existing }
        let created = metrics.series(for: label)
        state.series[label] = created
        return created
    }

    /// Recomputes rates and pulls subscriber counts from the sources.
    public func refresh() async {
        let now = configuration.wallClock()
        var subscriberCounts: [String: Int] = [:]
        for source in sources {
            subscriberCounts.merge(await source.subscriberCounts(), uniquingKeysWith: +)
        }
        var outputBytes: [String: Int] = [:]
        for source in sources {
            outputBytes.merge(await source.namedSubscriberOutputBytes(), uniquingKeysWith: +)
        }
        var unattributedPatterns = 0
        for source in sources { unattributedPatterns += await source.unattributedPatterns }
        let notReady = await sourcesNotReady()
        let (unserved, buckets, consumers, integrity, shapes) = state.withLock { state in
            var byLabel: [String: Int] = [:]
            for (channel, count) in subscriberCounts {
                guard let label = state.grouping.label(for: channel) else { continue }
                byLabel[label, default: 0] += count
            }
            state.statistics.replaceSubscribers(byLabel)
            let patterns = PatternConsumers(known: configuration.consumedPatterns + Array(state.tracker.livePatterns),
                                            unattributed: unattributedPatterns)
            let exact = state.patternReceivers
            state.statistics.assessPatterns { label, channel in
                patterns.assess(label, subscribers: channel.subscribers, exact: exact[label])
            }
            for (label, channel) in state.statistics.channels {
                let series = Self.series(label, in: &state, metrics: metrics)
                series.subscribers.set(Int64(channel.subscribers))
                series.patternSubscribers.set(Int64(channel.patternSubscribers))
                series.consumptionUnknown.set(Int64(channel.consumptionUnknown ? 1 : 0))
            }
            metrics.consumers.setOutputBuffers(outputBytes)
            let buckets = state.statistics.tick(now: now)
            // Mutated in place: a copy of the ledger would copy every source's state.
            if let settled = state.ledger?.takeMissing(now: now) {
                for (channel, missing) in settled {
                    guard let label = state.grouping.label(for: channel) else { continue }
                    Self.integritySeries(label, in: &state, metrics: metrics).sequenceGaps.increment(by: Int64(clamping: missing))
                    Self.tally(label, at: now, in: &state) { $0.gaps += missing }
                }
                metrics.integritySourcesTracked.set(Int64(state.ledger?.sequences.streamCount ?? 0))
                metrics.integrityDuplicateKeys.set(Int64(state.ledger?.duplicateKeys ?? 0))
            }
            metrics.trackedChannels.set(Int64(state.series.count))
            Self.export(state.grouping.overflowCount, as: "overflow", to: metrics.channelsOverflowed, state: &state)
            Self.export(queue.droppedCount, as: "dropped", to: metrics.observationsDropped, state: &state)
            Self.export(state.tracker.refusedConsumers, as: "refused", to: metrics.consumersRefused, state: &state)
            for (group, members) in state.tracker.groupMembers where !group.isEmpty {
                for kind in ConsumerStateMachine.State.allCases {
                    metrics.groupConsumers(group, state: kind).set(Int64(members[kind] ?? 0))
                }
            }
            // Traffic as far as it has been taken in: a monitor behind does not find channels idle.
            let judged = min(now, takenInUntil)
            let unserved = Self.unservedChannels(state, excluding: configuration.ownChannels, since: judged - configuration.trafficWindow)
            defer { state.integrityTally = [:] }
            return (unserved, buckets, state.rows.take(at: now), Array(state.integrityTally.values), state.shapes.takeDue(at: now))
        }
        emit(.refreshed(buckets: buckets, consumers: consumers))
        if !integrity.isEmpty { emit(.integrity(integrity)) }
        for (channel, shape) in shapes { emit(.shape(channel: channel, shape: shape)) }
        if isJudging {
            emit(.health(HealthSnapshot(unservedChannels: unserved, sources: sources.map(\.name), sourcesDown: notReady, at: now)))
        }
    }

    /// Channels that carried traffic since `since` while nothing serves them: no subscriber and
    /// no pattern subscriber, or every consumer that declares the channel in its heartbeats is
    /// down or stopped. A channel whose consumption is unknown is not judged. (A window, not the
    /// last second, so a channel with a message every few seconds is judged steadily.)
    /// Busiest first (see ``HealthSnapshot/busiestFirst(_:)``).
    private static func unservedChannels(_ state: State, excluding own: Set<String>, since: Double) -> [String] {
        let consumers = state.tracker.machinesServingChannels
        let unserved = state.statistics.channels.compactMap { label, channel -> (String, Double)? in
            guard (channel.lastMessageAt ?? -.infinity) >= since, label != ChannelGrouping.overflowLabel, !own.contains(label) else { return nil }
            guard !channel.consumptionUnknown else { return nil }
            if channel.subscribers + channel.patternSubscribers == 0 { return (label, channel.messagesPerSecond) }
            let declared = consumers.filter { $0.serves(label) }
            if !declared.isEmpty && declared.allSatisfy({ $0.state == .down || $0.state == .stopped }) { return (label, channel.messagesPerSecond) }
            return nil
        }
        return HealthSnapshot.busiestFirst(unserved)
    }

    /// Adds the growth of an absolute count since the last export to a Prometheus counter.
    static func export(_ total: UInt64, as key: String, to counter: Counter, state: inout State) {
        let previous = state.exported[key] ?? 0
        if total > previous { counter.increment(by: Int64(total - previous)) }
        state.exported[key] = total
    }
}
