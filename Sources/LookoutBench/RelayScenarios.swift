import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The side-by-side scenarios: the same load against redis-server and against Lookout's relay,
/// alternating, several rounds each.
struct RelayScenario {
    enum Rate {
        case maximal
        case fixed(Double)
        /// A share of the maximal rate measured on the same server in `scenario`.
        case shareOfMaximum(Double, scenario: String)
    }

    var name: String
    /// Per subscriber connection, its subscribe commands.
    var subscriptions: [[[String]]]
    var channels: [String]
    var payloadSize = 16
    var rate = Rate.maximal
    var messages: Int
    var seconds: Double
    var reportsLatency = false

    static func all(quick: Bool) -> [RelayScenario] {
        let messages = quick ? 200_000 : 1_000_000
        let seconds = quick ? 2.0 : 4.0
        func subscribers(_ count: Int, channel: String = "bench") -> [[[String]]] {
            Array(repeating: [["SUBSCRIBE", channel]], count: count)
        }
        let manyChannels = (0..<10_000).map { "bench:\($0)" }
        return [
            RelayScenario(name: "PUBLISH, 0 subscribers", subscriptions: [], channels: ["bench"], messages: messages, seconds: seconds),
            RelayScenario(name: "PUBLISH, 1 subscriber", subscriptions: subscribers(1), channels: ["bench"], messages: messages, seconds: seconds),
            RelayScenario(name: "PUBLISH, 10 subscribers", subscriptions: subscribers(10), channels: ["bench"], messages: messages / 4, seconds: seconds),
            RelayScenario(name: "PUBLISH, 100 subscribers", subscriptions: subscribers(100), channels: ["bench"], messages: messages / 20, seconds: seconds),
            RelayScenario(name: "PSUBSCRIBE * draining", subscriptions: [[["PSUBSCRIBE", "*"]]], channels: ["bench:a", "bench:b", "bench:c"],
                          messages: messages, seconds: seconds),
            RelayScenario(name: "PUBLISH 1 KiB, 1 subscriber", subscriptions: subscribers(1), channels: ["bench"], payloadSize: 1024,
                          messages: messages / 2, seconds: seconds),
            RelayScenario(name: "PUBLISH 64 KiB, 1 subscriber", subscriptions: subscribers(1), channels: ["bench"], payloadSize: 65536,
                          messages: messages / 50, seconds: seconds),
            RelayScenario(name: "10,000 channels, 1 subscriber each",
                          subscriptions: stride(from: 0, to: 10_000, by: 100).map { start in
                              [["SUBSCRIBE"] + manyChannels[start..<(start + 100)]]
                          },
                          channels: manyChannels, messages: messages / 2, seconds: seconds),
            RelayScenario(name: "latency at 20,000 msgs/s", subscriptions: subscribers(1), channels: ["bench"], rate: .fixed(20_000),
                          messages: quick ? 40_000 : 100_000, seconds: quick ? 2 : 5, reportsLatency: true),
            RelayScenario(name: "latency at 80% of maximum", subscriptions: subscribers(1), channels: ["bench"],
                          rate: .shareOfMaximum(0.8, scenario: "PUBLISH, 1 subscriber"), messages: messages, seconds: quick ? 2 : 5,
                          reportsLatency: true),
        ]
    }

    /// How many subscribers receive each published message.
    var receivers: Int {
        subscriptions.isEmpty ? 0 : (channels.count > 1 && subscriptions.count > 1 ? 1 : subscriptions.count)
    }

    /// One run against one server.
    func run(on server: ServerProcess, maximum: Double?) throws -> LoadRun {
        let pool = try SubscriberPool(port: server.port, subscriptions: subscriptions, threads: subscriptions.count > 1 ? 2 : 1)
        let publisher = try Publisher(port: server.port, channels: channels, payloadSize: payloadSize)
        pool.start()
        let rate: Double? = switch self.rate {
        case .maximal: nil
        case .fixed(let value): value
        case .shareOfMaximum(let share, _): maximum.map { $0 * share }
        }
        let cpuBefore = server.cpuSeconds
        let ((published, elapsed), peak) = try peakResidentBytes(of: server) { () throws -> (Int, Double) in
            let start = monotonicNanoseconds()
            let published = try publisher.run(messages: messages, seconds: seconds, rate: rate, delivered: { pool.received },
                                              receivers: receivers)
            var end = monotonicNanoseconds()
            if receivers > 0 {
                // Wait (bounded) until every message reached every receiver.
                let expected = published * receivers
                let deadline = monotonicNanoseconds() + 20_000_000_000
                while pool.received < expected && monotonicNanoseconds() < deadline { usleep(1000) }
                end = max(end, pool.lastReceiveNanoseconds)
            }
            return (published, Double(end - start) / 1e9)
        }
        let cpu = server.cpuSeconds - cpuBefore
        let received = pool.received
        let latencies = pool.stop()
        let handled = receivers > 0 ? received : published
        return LoadRun(published: published, received: received, rate: Double(published) / elapsed, latencies: latencies,
                       peakResidentBytes: peak, cpuMicrosecondsPerMessage: cpu / Double(max(1, handled)) * 1e6)
    }
}
