import Foundation
import LookoutCore
import Observations
import LookoutTestSupport
import Prometheus
import Synchronization
import Testing

@testable import Monitor

/// The monitor's loop on a manual clock: drains, detector checks and refreshes at their
/// intervals, consumer failures detected at their exact bounds.
@Suite struct ChannelMonitorTests {
    /// What the monitor reports, from any thread: a sink that keeps its refreshes, transitions
    /// and health snapshots.
    private final class Reports: MonitorSink {
        private let state = Mutex<(refreshes: [[ChannelStatistics.Bucket]], transitions: [HeartbeatTracker.ConsumerTransition],
                                   health: [HealthSnapshot])>(([], [], []))
        func receive(_ event: MonitorEvent) {
            state.withLock { state in
                switch event {
                case .refreshed(let buckets, _): state.refreshes.append(buckets)
                case .consumerTransition(let change): state.transitions.append(change)
                case .health(let snapshot): state.health.append(snapshot)
                default: break
                }
            }
        }
        var refreshes: [[ChannelStatistics.Bucket]] { state.withLock { $0.refreshes } }
        var transitions: [HeartbeatTracker.ConsumerTransition] { state.withLock { $0.transitions } }
        var health: [HealthSnapshot] { state.withLock { $0.health } }
    }

    private func makeMonitor(_ clock: ManualClock, _ reports: Reports) -> (ChannelMonitor, ObservationQueue) {
        var configuration = ChannelMonitor.Configuration()
        configuration.clock = clock
        configuration.wallClock = clock.wallClock
        configuration.sinks = [reports]
        let queue = ObservationQueue()
        return (ChannelMonitor(queue: queue, metrics: MonitorMetrics(version: "test"), sources: [], configuration: configuration), queue)
    }

    @Test func drainsEveryTickRefreshesEverySecondAndDetectsADeadConsumerAtThreeIntervals() async throws {
        let clock = ManualClock()
        let reports = Reports()
        let (monitor, queue) = makeMonitor(clock, reports)
        let running = startOnServiceThreads { try await monitor.run() }
        defer { running.cancel() }
        #expect(await clock.waitForSleepers(1))

        queue.offer(.heartbeat(payload: Array(#"{"v":1,"consumer":"w1","interval_ms":1000}"#.utf8), at: clock.wallClock()))
        queue.offer(.traffic(channel: "orders", messages: 3, bytes: 30, unrouted: 0, at: clock.wallClock()))
        #expect(await clock.advance(by: .milliseconds(10)))
        #expect(monitor.channels()["orders"]?.messages == 3, "drained at the next tick")
        #expect(monitor.consumers().map(\.state) == [.up])
        #expect(reports.refreshes.isEmpty)

        #expect(await clock.advance(by: .milliseconds(990)))
        #expect(reports.refreshes.count == 1, "one refresh after a second")
        #expect(reports.refreshes.first?.map(\.channel) == ["orders"])

        #expect(await clock.advance(by: .milliseconds(2_000)))
        let changes = reports.transitions.map { ($0.transition.to, $0.transition.at - clock.epoch) }
        #expect(changes.map(\.0) == [.late, .down])
        #expect(changes.count == 2 && (1.5...1.6).contains(changes[0].1), "late at 1.5 × the interval: \(changes)")
        #expect(changes.count == 2 && (3.0...3.1).contains(changes[1].1), "down at 3 × the interval: \(changes)")
        #expect(reports.refreshes.count == 3)
    }

    @Test func aBurstIsTakenInOverSeveralPassesAndTheWatermarkFollowsWhatWasTaken() {
        let wall = Mutex<Double>(980)
        var configuration = ChannelMonitor.Configuration()
        configuration.wallClock = { wall.withLock { $0 } }
        let queue = ObservationQueue()
        let monitor = ChannelMonitor(queue: queue, metrics: MonitorMetrics(version: "test"), sources: [], configuration: configuration)
        wall.withLock { $0 = 1_000 }
        for index in 0..<5 {
            let payload = #"{"v":1,"consumer":"c\#(index)","interval_ms":1000}"#
            queue.offer(.heartbeat(payload: Array(payload.utf8), at: 990 + Double(index)))
        }
        #expect(monitor.processQueued(limit: 2) == false)
        #expect(monitor.consumers().map(\.consumer) == ["c0", "c1"])
        #expect(monitor.takenInUntil == 991, "the latest observation taken, not the wall clock")
        #expect(monitor.processQueued(limit: 2) == false)
        #expect(monitor.processQueued(limit: 2) == true)
        #expect(monitor.consumers().count == 5)
        #expect(monitor.takenInUntil == 1_000, "everything taken: the time of the drain")
    }

    @Test func lookoutsOwnChannelsAreNeverUnrouted() {
        let (monitor, queue) = makeMonitor(ManualClock(), Reports())
        queue.offer(.traffic(channel: "lookout:heartbeat", messages: 2, bytes: 20, unrouted: 2, at: 0))
        queue.offer(.traffic(channel: "lookout:alerts", messages: 1, bytes: 10, unrouted: 1, at: 0))
        queue.offer(.traffic(channel: "orders", messages: 1, bytes: 10, unrouted: 1, at: 0))
        monitor.processQueued()
        let channels = monitor.channels()
        #expect(channels["lookout:heartbeat"]?.unrouted == 0 && channels["lookout:heartbeat"]?.messages == 2)
        #expect(channels["lookout:alerts"]?.unrouted == 0)
        #expect(channels["orders"]?.unrouted == 1)
    }

    @Test func aChannelReceivedThroughPatternsOnlyIsServedAndOneReceivedByNobodyIsNot() async {
        let reports = Reports()
        var configuration = ChannelMonitor.Configuration()
        configuration.sinks = [reports]
        let queue = ObservationQueue()
        let monitor = ChannelMonitor(queue: queue, metrics: MonitorMetrics(version: "test"), sources: [], configuration: configuration)
        let now = wallClockSeconds()
        queue.offer(.traffic(channel: "jobs.a", messages: 2, bytes: 2, unrouted: 0, patternReceivers: 1, at: now))
        queue.offer(.traffic(channel: "lost", messages: 1, bytes: 1, unrouted: 1, patternReceivers: 0, at: now))
        monitor.processQueued()
        await monitor.refresh()
        #expect(reports.health.last.map { $0.unservedChannels } == ["lost"])
        #expect(monitor.channels()["jobs.a"]?.patternSubscribers == 1)
        #expect(monitor.channels()["jobs.a"]?.consumptionUnknown == false)

        // The pattern subscriber left: the next message reached nobody.
        queue.offer(.traffic(channel: "jobs.a", messages: 1, bytes: 1, unrouted: 1, patternReceivers: 0, at: now + 1))
        monitor.processQueued()
        await monitor.refresh()
        #expect(reports.health.last.map { $0.unservedChannels }.map(Set.init) == ["jobs.a", "lost"])
        #expect(monitor.channels()["jobs.a"]?.patternSubscribers == 0)
    }

    @Test func heartbeatsOfASourceThatIsNotWatchingAreNotSilence() async throws {
        let clock = ManualClock()
        let reports = Reports()
        let (monitor, queue) = makeMonitor(clock, reports)
        let running = startOnServiceThreads { try await monitor.run() }
        defer { running.cancel() }
        #expect(await clock.waitForSleepers(1))
        let beat = Array(#"{"v":1,"consumer":"w1","interval_ms":1000}"#.utf8)
        queue.offer(.heartbeat(payload: beat, source: "redis://a", at: clock.wallClock()))
        #expect(await clock.advance(by: .milliseconds(500)))
        queue.offer(.sourceWatching(source: "redis://a", watching: false, at: clock.wallClock()))
        #expect(await clock.advance(by: .seconds(10)))
        #expect(reports.transitions.isEmpty, "ten seconds without the subscription: nothing judged")
        queue.offer(.sourceWatching(source: "redis://a", watching: true, at: clock.wallClock()))
        #expect(await clock.advance(by: .milliseconds(1_400)))
        #expect(reports.transitions.isEmpty)
        #expect(await clock.advance(by: .milliseconds(200)))
        #expect(reports.transitions.map(\.transition.to) == [.late], "late 1.5 intervals after the source came back")
    }

    /// Once Lookout begins to stop, silence is no longer judged (connections closing are not
    /// consumers failing), while what is queued is still taken in.
    /// A monitor whose wall clock is `wall`, reporting to `reports`, run by hand (no loop).
    private func handDrivenMonitor(_ wall: WallClock, _ reports: Reports) -> (ChannelMonitor, ObservationQueue, MonitorMetrics) {
        var configuration = ChannelMonitor.Configuration()
        configuration.wallClock = { wall.now }
        configuration.sinks = [reports]
        let queue = ObservationQueue()
        let metrics = MonitorMetrics(version: "test")
        return (ChannelMonitor(queue: queue, metrics: metrics, sources: [], configuration: configuration), queue, metrics)
    }

    /// A wall clock set by hand.
    private final class WallClock: Sendable {
        private let time: Mutex<Double>
        init(_ start: Double) { time = Mutex(start) }
        var now: Double { time.withLock { $0 } }
        func set(_ value: Double) { time.withLock { $0 = value } }
    }

    @Test func aStoppingMonitorJudgesNoSilenceButTakesInWhatIsQueued() async {
        let start = 1_800_000_000.0
        let wall = WallClock(start)
        let reports = Reports()
        let (monitor, queue, _) = handDrivenMonitor(wall, reports)
        queue.offer(.heartbeat(payload: Array(#"{"v":1,"consumer":"w1","group":"g","interval_ms":1000}"#.utf8), source: "relay", at: start))
        monitor.processQueued()
        #expect(reports.transitions.isEmpty, "first seen: up, not a change")
        monitor.stopJudging()
        wall.set(start + 10)
        monitor.processQueued()
        monitor.evaluateConsumers()
        await monitor.refresh()
        #expect(reports.transitions.isEmpty, "ten intervals of silence, not judged")
        #expect(reports.health.isEmpty, "no health judged either")
        #expect(reports.refreshes.count == 1, "the bucket is still handed on")
        queue.offer(.heartbeat(payload: Array(#"{"v":1,"consumer":"w1","group":"g","interval_ms":1000,"state":"stopping"}"#.utf8), source: "relay", at: start + 10))
        monitor.processQueued()
        #expect(reports.transitions.map { "\($0.transition.from) → \($0.transition.to)" } == ["up → stopped"], "a goodbye is still taken in")
    }

    /// A monitor held back: for 30 s the heartbeats of 100 consumers wait in the queue while the
    /// detectors keep being evaluated. Judged up to what was taken in, nobody leaves `up`; the lag
    /// shows in `lookout_monitor_lag_seconds`, and `LookoutMonitorBehind` in alerts.yml, run by
    /// promtool over the lag as it was exported, fires and resolves.
    @Test func aMonitorHeldBackJudgesNobodyPastWhatItTookIn() async throws {
        let start = 1_800_000_000.0
        let wall = WallClock(start)
        let reports = Reports()
        let (monitor, queue, metrics) = handDrivenMonitor(wall, reports)
        func beat(at time: Double) {
            for index in 0..<100 {
                let payload = #"{"v":1,"consumer":"w\#(index)","group":"g","interval_ms":1000}"#
                queue.offer(.heartbeat(payload: Array(payload.utf8), source: "relay", at: time))
            }
        }
        func lag() -> Double? {
            var buffer: [UInt8] = []
            metrics.registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix("lookout_monitor_lag_seconds ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        beat(at: start)
        monitor.processQueued()
        // Steps of 1/16 s (exact in binary): beats every 0.5 s, evaluation at every step, the lag
        // sampled every 5 s as a scrape would.
        var samples: [Double] = []
        for step in 1...800 {
            let now = start + Double(step) / 16
            wall.set(now)
            if step % 8 == 0 { beat(at: now) }
            if step > 480 { monitor.processQueued() }  // held back for the first 30 s
            monitor.evaluateConsumers()
            if step % 80 == 0 {
                monitor.reportLag()
                samples.append(try #require(lag()))
            }
        }
        #expect(reports.transitions.isEmpty, "\(reports.transitions.prefix(3))")
        #expect(monitor.consumers().count == 100 && monitor.consumers().allSatisfy { $0.state == .up })
        #expect(samples == [5, 10, 15, 20, 25, 30, 0, 0, 0, 0], "\(samples)")

        // The rule, over the series as exported (instance added as Prometheus would).
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lookout-lag-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("alerts.yml").path
        let values = ([0] + samples).map { String(Int($0)) }.joined(separator: " ")
        let test = """
            rule_files:
              - \(rules)
            evaluation_interval: 15s
            tests:
              - interval: 5s
                input_series:
                  - series: 'lookout_monitor_lag_seconds{instance="lookout:9480"}'
                    values: '\(values)'
                alert_rule_test:
                  - eval_time: 30s
                    alertname: LookoutMonitorBehind
                    exp_alerts:
                      - exp_labels: {severity: warning, instance: "lookout:9480"}
                        exp_annotations:
                          summary: "Lookout's monitor is 30s behind"
                          description: "Lookout on lookout:9480 takes observations in 30s late: consumers' silence is judged only up to what it has taken in (no false deaths), so real failures are noticed that much later."
                  - eval_time: 45s
                    alertname: LookoutMonitorBehind
                    exp_alerts: []

            """
        let file = directory.appendingPathComponent("lag_test.yml")
        try test.write(to: file, atomically: true, encoding: .utf8)
        let result = try await runCommand(try executable("promtool"), ["test", "rules", file.path])
        #expect(result.status == 0, "\(result.output)")
    }

    /// A stop whose time runs out (the service group cancels the monitor) while a large backlog
    /// is queued ends at once; what was not applied is counted as dropped, nothing silently.
    @Test func aCancelledStopCountsWhatItDidNotApplyAsDropped() async throws {
        var configuration = ChannelMonitor.Configuration()
        configuration.batchLimit = 10
        let queue = ObservationQueue()
        let metrics = MonitorMetrics(version: "test")
        let monitor = ChannelMonitor(queue: queue, metrics: metrics, sources: [], configuration: configuration)
        let now = wallClockSeconds()
        for index in 0..<50_000 {
            queue.offer(.traffic(channel: "c\(index % 100)", messages: 1, bytes: 1, unrouted: 0, at: now))
        }
        let running = Task { try await monitor.run() }
        running.cancel()
        try await running.value
        #expect(queue.takenCount == 50_000, "nothing left in the queue")
        #expect(queue.droppedCount > 0, "cancelled at once: most of it was not applied")
        var buffer: [UInt8] = []
        metrics.registry.emit(into: &buffer)
        let dropped = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix("lookout_monitor_observations_dropped_total ") }.flatMap { Double($0.split(separator: " ")[1]) }
        #expect(dropped == Double(queue.droppedCount))
        let applied = monitor.channels().values.reduce(0) { $0 + Int($1.messages) }
        #expect(applied + Int(queue.droppedCount) == 50_000, "each one either applied or counted: \(applied) applied")
    }
}
