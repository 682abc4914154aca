import Foundation
import LookoutCore

#if canImport(Glibc)
import Glibc
#endif

/// Scale: a fleet of heartbeat consumers starting together, and many channels, against
/// `lookout serve` (release, store on) on the relay.
enum ScaleBenchmark {
    struct FleetResult {
        var consumers: Int
        /// Seconds from the first beat until every consumer was `up` (nil: not within the run).
        var secondsToAllUp: Double?
        /// The longest monitor loop iteration seen (`lookout_monitor_longest_iteration_seconds`).
        var longestIteration: Double
        /// Consumers not `up` at the end (late, down, stalled, lagging or stopped).
        var notUp: Int
        var cpuMicrosecondsPerHeartbeat: Double
        var metricsSeconds: Double
        var metricsBytes: Int
        var residentMiB: Int
    }

    /// `consumers` consumers in 50 groups beating every second, all starting at once, for
    /// `seconds` seconds; the CPU per heartbeat is measured over the last half (steady state).
    static func fleet(consumers: Int, seconds: Int, consumerSeries: String) throws -> FleetResult {
        let lookout = try ServerProcess.lookout(["--consumer-series", consumerSeries], name: "lookout-scale")
        defer { lookout.stop() }
        let metricsPort = lookout.metricsPort!
        let connection = try WireConnection(port: lookout.port)
        var round: [UInt8] = []
        for index in 0..<consumers {
            let beat = #"{"v":1,"consumer":"fleet-\#(index)","group":"fleet-\#(index % 50)","interval_ms":1000}"#
            round += RESPCommand.encode(["PUBLISH", OwnChannels.heartbeat, beat])
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 1)
        defer { buffer.deallocate() }
        /// Sends one round and reads its replies (`:0\r\n` each: nobody subscribes to heartbeats).
        func beat() throws {
            try connection.send(round)
            var replies = 0
            while replies < consumers {
                let count = try connection.receive(into: buffer, timeoutMilliseconds: 10_000)
                guard count > 0 else { throw BenchError("no reply to a heartbeat round") }
                replies += buffer.prefix(count).lazy.filter { $0 == UInt8(ascii: "\n") }.count
            }
        }
        let start = Date()
        var allUp: Double?
        var steadyCPU: (cpu: Double, beats: Int)?
        for second in 0..<seconds {
            try beat()
            if second == seconds / 2 { steadyCPU = (lookout.cpuSeconds, 0) }
            if steadyCPU != nil { steadyCPU!.beats += consumers }
            if allUp == nil {
                let metrics = try MonitorBenchmarks.scrape(metricsPort)
                if groupMembers(metrics, state: "up") == Double(consumers) { allUp = Date().timeIntervalSince(start) }
            }
            let next = start.addingTimeInterval(Double(second + 1))
            let wait = next.timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        }
        let cpu = steadyCPU.map { (lookout.cpuSeconds - $0.cpu) * 1e6 / Double(max(1, $0.beats)) } ?? 0
        let scrapeStart = Date()
        let metrics = try MonitorBenchmarks.scrape(metricsPort)
        let scrapeSeconds = Date().timeIntervalSince(scrapeStart)
        let notUp = ["late", "down", "stalled", "lagging", "stopped"].reduce(0) { $0 + Int(groupMembers(metrics, state: $1)) }
        return FleetResult(consumers: consumers, secondsToAllUp: allUp,
                           longestIteration: sample(metrics, "lookout_monitor_longest_iteration_seconds") ?? -1,
                           notUp: notUp, cpuMicrosecondsPerHeartbeat: cpu, metricsSeconds: scrapeSeconds,
                           metricsBytes: metrics.utf8.count, residentMiB: lookout.residentBytes >> 20)
    }

    struct ChannelsResult {
        var channels: Int
        var maxChannels: Int
        var published: Int
        var counted: Int
        var cpuMicrosecondsPerMessage: Double
        var longestIteration: Double
        var metricsSeconds: Double
        var metricsBytes: Int
        var residentMiB: Int
    }

    /// `channels` distinct channels, each published on `perChannel` times by a maximal publisher
    /// (nobody subscribed), with `--max-channels maxChannels`; then the monitor's counts, its
    /// longest iteration and one scrape.
    static func channels(_ channels: Int, maxChannels: Int, perChannel: Int) throws -> ChannelsResult {
        let lookout = try ServerProcess.lookout(["--max-channels", "\(maxChannels)"], name: "lookout-channels")
        defer { lookout.stop() }
        let metricsPort = lookout.metricsPort!
        let names = (0..<channels).map { "scale:\($0)" }
        let publisher = try Publisher(port: lookout.port, channels: names, payloadSize: 16)
        let cpuBefore = lookout.cpuSeconds
        let published = try publisher.run(messages: channels * perChannel, seconds: 60)
        // Until the monitor has counted them all (bounded).
        var counted = 0
        let deadline = Date().addingTimeInterval(60)
        while counted < published && Date() < deadline {
            usleep(500_000)
            let metrics = try MonitorBenchmarks.scrape(metricsPort)
            counted = metrics.split(separator: "\n").reduce(0) { total, line in
                guard line.hasPrefix("lookout_channel_messages_total{channel=\"scale:") || line.hasPrefix("lookout_channel_messages_total{channel=\"__other__\"}"),
                      let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { return total }
                return total + Int(value)
            }
        }
        let cpu = lookout.cpuSeconds - cpuBefore
        let scrapeStart = Date()
        let metrics = try MonitorBenchmarks.scrape(metricsPort)
        let scrapeSeconds = Date().timeIntervalSince(scrapeStart)
        return ChannelsResult(channels: channels, maxChannels: maxChannels, published: published, counted: counted,
                              cpuMicrosecondsPerMessage: cpu * 1e6 / Double(max(1, published)),
                              longestIteration: sample(metrics, "lookout_monitor_longest_iteration_seconds") ?? -1,
                              metricsSeconds: scrapeSeconds, metricsBytes: metrics.utf8.count, residentMiB: lookout.residentBytes >> 20)
    }

    /// Consumers in `state`, summed over the groups.
    static func groupMembers(_ metrics: String, state: String) -> Double {
        metrics.split(separator: "\n").filter { $0.hasPrefix("lookout_group_consumers{") && $0.contains(#"state="\#(state)""#) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }

    static func sample(_ metrics: String, _ series: String) -> Double? {
        metrics.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
    }
}
