import LookoutTestSupport
import Testing

@testable import LookoutCore

/// A detector is looked at only from ``ConsumerStateMachine/nextChange(after:)`` on: replayed
/// against detectors evaluated at every tick, random fleets give the same transitions at the
/// same ticks, with far fewer evaluations.
@Suite struct DetectorScheduleTests {
    /// One random history of a fleet: consumers beating at their interval with jitter, some
    /// falling silent for a while, some whose progress sticks while their channel carries
    /// traffic, goodbyes, named connections that leave and return; ticks mostly 100 ms apart.
    static func replay(seed: UInt64, configuration: ConsumerStateMachine.Configuration) -> (every: [String], scheduled: [String], evaluations: (Int, Int)) {
        var random = SplitMix64(state: seed)
        let count = 40
        var every: [ConsumerStateMachine?] = Array(repeating: nil, count: count)
        var scheduled: [ConsumerStateMachine?] = Array(repeating: nil, count: count)
        var due = [Double](repeating: -.infinity, count: count)
        var processed = [UInt64](repeating: 0, count: count)
        var now = 1_000_000.0
        var nextBeat = (0..<count).map { _ in now + Double.random(in: 0...2, using: &random) }
        var (everyLog, scheduledLog) = ([String](), [String]())
        var (everyEvaluations, scheduledEvaluations) = (0, 0)

        /// Applies `change` to both copies of detector `index` (made by `first` if new) and makes it due.
        func apply(_ index: Int, first: () -> ConsumerStateMachine, _ change: (inout ConsumerStateMachine) -> Void) {
            if every[index] == nil {
                every[index] = first()
                scheduled[index] = every[index]
            } else {
                change(&every[index]!)
                change(&scheduled[index]!)
            }
            due[index] = -.infinity
        }

        for _ in 0..<4_000 {
            now += [0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.25, 3][Int.random(in: 0..<8, using: &random)]
            for index in 0..<count {
                let interval = index % 3 == 0 ? 0.5 : 1.0
                // Every eighth sends no heartbeat: watched by its named connection alone.
                if index % 8 == 7 {
                    guard Int.random(in: 0..<30, using: &random) == 0 else { continue }
                    let open = every[index].map { $0.awaySubscriptions != .init() } ?? true
                    // Half of them resumed from the store, awaiting their connection.
                    let saved = ConsumerStateMachine.Saved(state: .up, stateSince: now - 60, reason: "", lastHeartbeatAt: now - 60,
                                                           interval: 1, processed: nil, failed: nil, channels: [], connectionOnly: true)
                    apply(index, first: {
                        index < 24 ? ConsumerStateMachine(connectionAt: now, configuration: configuration)
                            : ConsumerStateMachine(resuming: saved, at: now, configuration: configuration)
                    }) {
                        _ = open ? $0.connectionOpened(at: now)
                            : $0.connectionClosed(at: now, reason: "gone", subscriptions: .init(channels: ["orders"]))
                    }
                    continue
                }
                if now >= nextBeat[index] {
                    // Stuck consumers (every fifth) make progress only now and then.
                    if index % 5 != 0 || Int.random(in: 0..<30, using: &random) == 0 { processed[index] += 1 }
                    let beat = Heartbeat(consumer: "c\(index)", interval: interval, channels: index % 2 == 0 ? ["orders"] : [],
                                         processed: processed[index], stopping: Int.random(in: 0..<200, using: &random) == 0)
                    apply(index, first: { ConsumerStateMachine(first: beat, at: now, configuration: configuration) }) {
                        _ = $0.receive(beat, at: now)
                    }
                    let silence = Int.random(in: 0..<25, using: &random) == 0 ? Double.random(in: 1...12, using: &random) : 1
                    nextBeat[index] = now + interval * silence * Double.random(in: 0.7...1.3, using: &random)
                }
                switch Int.random(in: 0..<400, using: &random) {
                case 0:
                    // Half of them resumed from the store, awaiting their connection.
                    let saved = ConsumerStateMachine.Saved(state: .up, stateSince: now - 60, reason: "", lastHeartbeatAt: now - 60,
                                                           interval: 1, processed: nil, failed: nil, channels: [], connectionOnly: true)
                    apply(index, first: {
                        index < 24 ? ConsumerStateMachine(connectionAt: now, configuration: configuration)
                            : ConsumerStateMachine(resuming: saved, at: now, configuration: configuration)
                    }) {
                        _ = $0.connectionOpened(at: now)
                    }
                case 1:
                    guard every[index] != nil else { break }
                    apply(index, first: { fatalError() }) {
                        _ = $0.connectionClosed(at: now, reason: "gone", subscriptions: .init(channels: ["orders"]))
                    }
                default: break
                }
            }
            if Int.random(in: 0..<3, using: &random) == 0 {
                for index in stride(from: 0, to: count, by: 2) where every[index] != nil {
                    apply(index, first: { fatalError() }) { $0.noteTraffic(on: "orders", messages: 3, at: now) }
                }
            }
            for index in 0..<count where every[index] != nil {
                everyEvaluations += 1
                if let transition = every[index]!.evaluate(now: now) {
                    everyLog.append("\(now) c\(index) \(transition.from)→\(transition.to): \(transition.reason)")
                }
                guard due[index] <= now else { continue }
                scheduledEvaluations += 1
                if let transition = scheduled[index]!.evaluate(now: now) {
                    scheduledLog.append("\(now) c\(index) \(transition.from)→\(transition.to): \(transition.reason)")
                    due[index] = -.infinity
                } else {
                    due[index] = scheduled[index]!.nextChange(after: now)
                }
            }
        }
        return (everyLog, scheduledLog, (everyEvaluations, scheduledEvaluations))
    }

    /// The logs agree; else where they part.
    static func expectSame(_ scheduled: [String], _ every: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let parting = zip(scheduled, every).first { $0 != $1 }
        #expect(parting == nil && scheduled.count == every.count,
                "\(scheduled.count) vs \(every.count) transitions; first difference: \(parting.map { "\($0) | \($1)" } ?? "none")",
                sourceLocation: sourceLocation)
    }

    /// The kinds of transition in a log (`up→late`…).
    static func kinds(_ log: [String]) -> Set<String> {
        Set(log.map { String($0.split(separator: ":")[0].split(separator: " ").last!) })
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func theDefaultDetectorGivesTheSameTransitions(seed: UInt64) {
        var configuration = ConsumerStateMachine.Configuration()
        configuration.stallWindow = 5
        configuration.reconnectGrace = 2
        let (every, scheduled, evaluations) = Self.replay(seed: seed, configuration: configuration)
        let kinds = Self.kinds(every)
        #expect(kinds.isSuperset(of: ["up→late", "late→down", "up→stalled", "stalled→late", "down→up", "up→down"]), "\(kinds)")
        Self.expectSame(scheduled, every)
        #expect(evaluations.1 * 2 < evaluations.0, "evaluations: \(evaluations.1) scheduled of \(evaluations.0)")
    }

    @Test(arguments: [5, 6] as [UInt64])
    func thePhiDetectorGivesTheSameTransitions(seed: UInt64) {
        var configuration = ConsumerStateMachine.Configuration()
        configuration.phiAccrual = PhiAccrual.Configuration()
        configuration.stallWindow = 5
        let (every, scheduled, evaluations) = Self.replay(seed: seed, configuration: configuration)
        #expect(every.contains { $0.contains("phi") }, "phi judged some silences")
        #expect(Self.kinds(every).contains("up→stalled"))
        Self.expectSame(scheduled, every)
        #expect(evaluations.1 * 2 < evaluations.0, "evaluations: \(evaluations.1) scheduled of \(evaluations.0)")
    }

    @Test(arguments: [0.2, 1, 3, 8, 12, 16] as [Double])
    func phiReachesItsThresholdWhereSuspicionBegins(threshold: Double) {
        var configuration = PhiAccrual.Configuration()
        configuration.threshold = threshold
        for intervals in [[1.0, 1.0, 1.0], [0.9, 1.3, 1.1, 0.7, 1.0], [5, 30, 12]] {
            var detector = PhiAccrual(configuration: configuration)
            for interval in intervals { detector.record(interval) }
            let begins = detector.suspicionBegins
            #expect(begins.isFinite)
            #expect(detector.isSuspected(elapsed: begins + 1e-7), "\(intervals) at \(threshold)")
            #expect(!detector.isSuspected(elapsed: begins - 1e-7), "\(intervals) at \(threshold)")
        }
        #expect(PhiAccrual(configuration: configuration).suspicionBegins == .infinity, "nothing learned: never suspected")
    }
}
