import Foundation
import LookoutTestSupport
import Testing

@testable import LookoutCore

/// What the monitor hands the store: latency digests, per-bucket channel samples, and detectors
/// that resume after a restart.
@Suite struct LatencyDigestTests {
    @Test func quantilesAreWithinFivePercent() {
        var random = SplitMix64(state: 7)
        var digest = LatencyDigest()
        var values: [Double] = []
        for _ in 0..<20_000 {
            // Log-uniform from 10 µs to 1 s.
            let value = 1e-5 * pow(1e5, Double(random.next() % 1_000_000) / 1_000_000)
            values.append(value)
            digest.record(value)
        }
        values.sort()
        for q in [0.5, 0.9, 0.99] {
            let exact = values[Int((q * Double(values.count)).rounded(.up)) - 1]
            let estimate = digest.quantile(q) ?? 0
            #expect(abs(estimate - exact) / exact < 0.05, "q\(q): \(estimate) vs \(exact)")
        }
        #expect(digest.maximum == values.last)
        #expect(digest.count == 20_000)
        #expect(LatencyDigest().quantile(0.5) == nil)
    }

    @Test func aSampleStandsForItsCount() {
        var weighted = LatencyDigest()
        weighted.record(0.001, count: 99)
        weighted.record(0.1)
        var one = LatencyDigest()
        for _ in 0..<99 { one.record(0.001) }
        one.record(0.1)
        #expect(weighted.count == 100)
        for q in [0.5, 0.99, 1.0] { #expect(weighted.quantile(q) == one.quantile(q), "q \(q)") }
    }

    @Test func extremesLandInTheEndBins() {
        var digest = LatencyDigest()
        digest.record(0)
        digest.record(1e9)
        #expect(digest.quantile(0.5) == 1e-6)
        #expect(digest.quantile(1) == 1e9 || (digest.quantile(1) ?? 0) > 100)
    }
}

@Suite struct ChannelBucketTests {
    @Test func aTickClosesABucketOfWhatHappenedSinceThePreviousOne() {
        var statistics = ChannelStatistics()
        statistics.recordMessage(label: "orders", bytes: 10, receivers: 1, at: 0.5)
        let first = statistics.tick(now: 1)
        #expect(first.map(\.messages) == [1] && first.map(\.start) == [0], "the first tick keeps what came before it")
        #expect(statistics.channels["orders"]?.messagesPerSecond == 0, "but sets no rate")
        statistics.recordMessage(label: "orders", bytes: 10, receivers: 1, at: 1.2)
        statistics.recordMessage(label: "orders", bytes: 30, receivers: 0, at: 1.7)
        statistics.recordLatency(label: "orders", seconds: 0.002)
        statistics.setSubscribers(label: "orders", count: 3)
        let buckets = statistics.tick(now: 2)
        #expect(buckets.count == 1)
        let bucket = buckets[0]
        #expect(bucket.channel == "orders" && bucket.start == 1)
        #expect(bucket.messages == 2 && bucket.bytes == 40 && bucket.unrouted == 1 && bucket.subscribers == 3)
        #expect(bucket.latency.count == 1 && bucket.latency.maximum == 0.002)
    }

    @Test func idleChannelsAreSampledWhenSubscribersChangeOrOnceAMinute() {
        var statistics = ChannelStatistics()
        statistics.setSubscribers(label: "audit", count: 1)
        #expect(statistics.tick(now: 1).map(\.channel) == ["audit"], "first sample")
        #expect(statistics.tick(now: 2).isEmpty)
        statistics.setSubscribers(label: "audit", count: 2)
        #expect(statistics.tick(now: 3).map(\.subscribers) == [2])
        let quiet = (4...62).map { statistics.tick(now: Double($0)).count }
        #expect(quiet.reduce(0, +) == 0)
        #expect(statistics.tick(now: 63).map(\.channel) == ["audit"], "60 s after the last sample")
    }
}

@Suite struct ResumedDetectorTests {
    let configuration = ConsumerStateMachine.Configuration()

    func saved(_ state: ConsumerStateMachine.State, lastHeartbeat: Double, connectionOnly: Bool = false) -> ConsumerStateMachine.Saved {
        .init(state: state, stateSince: lastHeartbeat, reason: "saved", lastHeartbeatAt: lastHeartbeat, interval: 5, processed: 10,
              failed: 0, channels: ["orders"], connectionOnly: connectionOnly)
    }

    @Test func aDownConsumerStaysDownWithoutANewTransition() {
        var machine = ConsumerStateMachine(resuming: saved(.down, lastHeartbeat: 100), at: 1000, configuration: configuration)
        for now in stride(from: 1000.0, to: 1100, by: 0.5) { #expect(machine.evaluate(now: now) == nil) }
        #expect(machine.state == .down && machine.reason == "saved")
    }

    @Test func silenceCountsFromTheRestartNotFromBeforeIt() {
        // Saved up at 100; Lookout was away until 1000. Not down at once: judged from 1000.
        var machine = ConsumerStateMachine(resuming: saved(.up, lastHeartbeat: 100), at: 1000, configuration: configuration)
        #expect(machine.evaluate(now: 1000) == nil)
        #expect(machine.evaluate(now: 1007.5)?.to == .late)
        let down = machine.evaluate(now: 1015)
        #expect(down?.to == .down)
        #expect(machine.lastHeartbeatAt == 100, "what the store and the CLI show stays the real last heartbeat")
    }

    @Test func aResumedConsumerThatBeatsStaysUp() {
        var machine = ConsumerStateMachine(resuming: saved(.up, lastHeartbeat: 100), at: 1000, configuration: configuration)
        let heartbeat = Heartbeat(consumer: "w1", interval: 5, processed: 11)
        for now in stride(from: 1002.0, to: 1100, by: 5) {
            #expect(machine.receive(heartbeat, at: now).isEmpty)
            #expect(machine.evaluate(now: now + 1) == nil)
        }
    }

    @Test func aSubscribedConnectionMustComeBack() {
        var gone = ConsumerStateMachine(resuming: saved(.up, lastHeartbeat: 100, connectionOnly: true), at: 1000, configuration: configuration)
        #expect(gone.evaluate(now: 1014) == nil)
        #expect(gone.evaluate(now: 1015)?.reason == "subscribed connection did not come back after Lookout restarted")
        var back = ConsumerStateMachine(resuming: saved(.up, lastHeartbeat: 100, connectionOnly: true), at: 1000, configuration: configuration)
        #expect(back.connectionOpened(at: 1001) == nil)
        #expect(back.evaluate(now: 2000) == nil)
    }

    @Test func theTrackerResumesEveryConsumerAndItsGroups() {
        var tracker = HeartbeatTracker()
        tracker.resume([
            .init(consumer: "w1", group: "billing", detector: saved(.down, lastHeartbeat: 100)),
            .init(consumer: "w2", group: "billing", detector: saved(.down, lastHeartbeat: 100)),
        ], at: 1000)
        #expect(tracker.consumers.map(\.state) == [.down, .down])
        #expect(tracker.updateGroups(at: 1001).isEmpty, "the group was already down: no new group transition")
        #expect(tracker.evaluate(now: 1100).isEmpty)
    }
}

/// Per-channel sums of one batch, as the relay's tap hands them over.
@Suite struct ChannelSumsTests {
    private func slot(_ sums: inout ChannelSums, _ name: String, now: Double = 0) -> (slot: ChannelSums.Slot, handOver: [Observation]?) {
        Array(name.utf8).withUnsafeBytes { sums.slot(of: $0, now: { now }) }
    }

    private func update(_ sums: inout ChannelSums, _ name: String, now: Double = 0, _ change: (inout ChannelSums.Entry) -> Void) -> [Observation]? {
        Array(name.utf8).withUnsafeBytes { sums.update($0, now: { now }, change) }
    }

    @Test func sumsPerChannelInFirstSeenOrderAndStartsAfreshAfterEachHandOver() {
        var sums = ChannelSums()
        for (channel, bytes) in [("b", 3), ("a", 1), ("b", 4)] {
            #expect(update(&sums, channel) { $0.messages += 1; $0.bytes += bytes } == nil)
        }
        _ = update(&sums, "a") { $0.latencies.append(LatencySample(seconds: 0.002, count: 3)) }
        _ = update(&sums, "a") { $0.unrouted += 1 }
        #expect(sums.touchedNames == ["b", "a"])
        let batch = sums.observations(at: 7)
        guard batch.count == 3, case .traffic("b", 2, 7, 0, nil, 7) = batch[0], case .traffic("a", 1, 1, 1, nil, 7) = batch[1],
              case .latencies("a", let samples) = batch[2] else {
            Issue.record("unexpected batch \(batch)")
            return
        }
        #expect(samples == [LatencySample(seconds: 0.002, count: 3)])
        #expect(sums.isEmpty && sums.observations(at: 8).isEmpty, "each batch is handed over once")
        _ = update(&sums, "a") { $0.messages += 1 }
        #expect(sums.touchedNames == ["a"])
    }

    @Test func aFullTableHandsOverWhatItHoldsBeforeStartingAfresh() {
        var sums = ChannelSums(capacity: 2)
        for channel in ["a", "b"] { #expect(update(&sums, channel, now: 1) { $0.messages += 1 } == nil) }
        let handedOver = update(&sums, "c", now: 5) { $0.messages += 1 }
        #expect(handedOver?.count == 2, "a and b, before c")
        if case .traffic("a", 1, 0, 0, nil, 5)? = handedOver?.first {} else { Issue.record("\(String(describing: handedOver))") }
        #expect(sums.touchedNames == ["c"])
    }

    @Test func aSlotCountsWithoutALookupUntilTheTableStartsAfresh() {
        var sums = ChannelSums(capacity: 2)
        let a = slot(&sums, "a").slot
        let b = slot(&sums, "b").slot
        #expect(a != b && ChannelSums.Slot(rawValue: b.rawValue) == b && slot(&sums, "a").slot == a)
        #expect(sums.update(b) { $0.messages += 2 } && sums.update(a) { $0.messages += 1 })
        #expect(sums.touchedNames == ["b", "a"])
        let handedOver = slot(&sums, "c", now: 5).handOver
        #expect(handedOver?.count == 2)
        #expect(!sums.update(a) { $0.messages += 1 }, "a slot from before the table started afresh is stale")
        #expect(sums.isEmpty)
        _ = update(&sums, "c", now: 5) { $0.messages += 1 }
        guard case .traffic("c", 1, 0, 0, nil, 6)? = sums.observations(at: 6).first else {
            Issue.record("c counted once")
            return
        }
    }
}
