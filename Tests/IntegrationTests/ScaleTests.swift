#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RESP
import Store
import Synchronization
import Testing
import LookoutTestSupport

/// A fleet starting together: correctness only (how fast lives in `make bench`).
@Suite(.serialized) struct ScaleTests {
    private func sample(_ metrics: String, _ series: String) -> Double? { MonitorIntegrationTests.sample(metrics, series) }

    /// Consumers in each state, summed over the groups.
    private func members(_ metrics: String, state: String) -> Double {
        metrics.split(separator: "\n").filter { $0.hasPrefix("lookout_group_consumers{") && $0.contains(#"state="\#(state)""#) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }

    @Test func threeThousandConsumersStartingTogetherAreAllUpWithNoTransitionNorAlert() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let lookout = try await InProcessLookout(arguments: ["--alert-webhook", receiver.url])
        let fleet = try HeartbeatFleet(port: lookout.port, consumers: 3_000, groups: 50, rounds: 40)
        defer { fleet.stop() }
        // The scrape is large (every consumer's series): once a second, not in a tight loop.
        var metrics = ""
        var allUpAtRound: Int?
        let deadline = TestConnection.now() + 60
        while allUpAtRound == nil && TestConnection.now() < deadline {
            try await Task.sleep(for: .seconds(1))
            metrics = try await lookout.get("/metrics").body
            if members(metrics, state: "up") == 3_000 { allUpAtRound = fleet.rounds }
        }
        let upRound = try #require(allUpAtRound, "all 3,000 up: \(members(metrics, state: "up")) up")
        // Judged for more than 1.5 intervals since (late, were any beat missed), as the fleet goes on.
        while fleet.rounds < upRound + 5 && TestConnection.now() < deadline + 30 {
            try await Task.sleep(for: .seconds(1))
        }
        #expect(fleet.rounds >= upRound + 5, "the fleet kept beating")
        print("3,000 consumers: all up by round \(upRound), the slowest round took \(fleet.slowestRoundMilliseconds) ms")
        metrics = try await lookout.get("/metrics").body
        #expect(members(metrics, state: "up") == 3_000)
        for state in ["late", "down", "stalled", "lagging", "stopped"] {
            #expect(members(metrics, state: state) == 0, "\(state)")
        }
        #expect(sample(metrics, "lookout_monitor_observations_dropped_total") == 0)
        // Lookout stops while the fleet still beats (it stops judging as its stop begins): the
        // other way round, a stop that is slow to begin on a loaded machine judged a silent fleet.
        try await lookout.stop()
        fleet.stop()
        #expect(receiver.alerts.isEmpty, "\(receiver.alerts.prefix(3).map { "\($0.name) \($0.consumer)" })")
        let store = try StoreReader(path: try #require(lookout.databasePath))
        let changes = try store.transitions(since: 0, until: Double(Int32.max))
        #expect(changes.isEmpty, "\(changes.count) state changes, the first: \(changes.prefix(3).map { "\($0.consumer): \($0.from) → \($0.to) (\($0.reason))" })")
    }
}

/// Heartbeats of many consumers (contract v1) from a thread of its own: every second, one beat
/// for each, pipelined on one connection; at most `rounds` seconds. They declare a 3 s interval
/// (late after 4.5 s of silence): a round of thousands of beats through a debug relay on a
/// loaded 2-core machine can take over a second, and that would be real lateness, not what
/// these tests are about.
final class HeartbeatFleet: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let done = Atomic<Bool>(false)
    private let completed = Atomic<Int>(0)
    private let slowest = Atomic<Int>(0)

    init(port: Int, consumers: Int, groups: Int, rounds: Int) throws {
        let connection = try TestConnection(port: port)
        var round: [UInt8] = []
        for index in 0..<consumers {
            let beat = #"{"v":1,"consumer":"fleet-\#(index)","group":"fleet-\#(index % groups)","interval_ms":3000}"#
            round += ScriptStep.encode([Array("PUBLISH".utf8), Array("lookout:heartbeat".utf8), Array(beat.utf8)])
        }
        let pipeline = round
        Thread.detachNewThread { [self] in
            defer { done.store(true, ordering: .releasing) }
            let start = TestConnection.now()
            for index in 0..<rounds where !stopped.load(ordering: .acquiring) {
                let began = TestConnection.now()
                guard (try? connection.send(pipeline)) != nil, (try? connection.readValues(consumers, timeoutSeconds: 10)) != nil else { return }
                let took = Int((TestConnection.now() - began) * 1000)
                if took > slowest.load(ordering: .relaxed) { slowest.store(took, ordering: .relaxed) }
                completed.store(index + 1, ordering: .releasing)
                let next = start + Double(index + 1)
                let wait = next - TestConnection.now()
                if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
            }
        }
    }

    /// The longest round, sent and answered, in milliseconds.
    var slowestRoundMilliseconds: Int { slowest.load(ordering: .relaxed) }

    /// Rounds sent and answered so far.
    var rounds: Int { completed.load(ordering: .acquiring) }

    /// Stops beating and waits (at most 10 s) for the thread to finish its round.
    func stop() {
        stopped.store(true, ordering: .releasing)
        for _ in 0..<1_000 where !done.load(ordering: .acquiring) { usleep(10_000) }
    }
}
