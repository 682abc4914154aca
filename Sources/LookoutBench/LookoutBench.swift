import ArgumentParser
import CBenchSupport
import Foundation
import LookoutCore

#if canImport(Glibc)
import Glibc
#endif

/// `lookout-bench`: Lookout's benchmarks, run by `make bench` in release mode. The relay is
/// measured side by side with a real redis-server in the same run (same load generator, same
/// machine, alternating rounds); each suite prints its table, and everything goes to a JSON
/// report for comparing runs.
@main
struct LookoutBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookout-bench",
        abstract: "Benchmarks: the relay against redis-server, the monitor's cost, the hot pure code, the store.")

    enum Suite: String, CaseIterable, ExpressibleByArgument {
        case relay, monitor, sidecar, streams, micro, store, scale
    }

    @Flag(help: "One short round of each scenario (a smoke run, under 2 minutes).")
    var quick = false

    @Option(help: "Rounds per scenario and server (default 3, 1 with --quick).")
    var rounds: Int?

    @Option(help: "Run only these suites: relay, monitor, sidecar, streams, micro, store, scale (repeatable).")
    var only: [Suite] = []

    @Option(help: "Run only the relay scenarios whose name contains this (repeatable; for profiling one).")
    var scenario: [String] = []

    @Option(help: "Write the results as JSON here.")
    var json: String?

    @Option(help: .hidden)
    var serveFloor: Int?

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        if let serveFloor {
            // This process is the floor server another lookout-bench started (ServerProcess.floor).
            Foundation.exit(bench_floor_serve(Int32(serveFloor)))
        }
        let suites = only.isEmpty ? Suite.allCases : only
        let rounds = self.rounds ?? (quick ? 1 : 3)
        // A hard bound on the whole run: a stuck scenario ends the run (and its servers, which
        // are our children and see their connections close) instead of hanging it.
        let budget: UInt32 = (quick ? 300 : 1200) * UInt32(max(1, rounds)) / (quick ? 1 : 3)
        bench_set_deadline(budget)
        let started = Date()
        var report: [String: Any] = [
            "machine": machineDescription(), "quick": quick, "rounds": rounds,
            "date": ISO8601DateFormatter().string(from: started),
        ]
        say("lookout-bench on \(report["machine"]!), \(rounds) round(s) per scenario\(quick ? ", quick" : "")\n")
        if suites.contains(.relay) { report["relay"] = try relaySuite(rounds: rounds) }
        if suites.contains(.monitor) { report["monitor"] = try monitorSuite(rounds: rounds) }
        if suites.contains(.sidecar) { report["sidecar"] = try sidecarSuite() }
        if suites.contains(.streams) { report["streams"] = try streamsSuite() }
        if suites.contains(.micro) { report["micro"] = try await microSuite() }
        if suites.contains(.store) { report["store"] = try storeSuite() }
        if suites.contains(.scale) { report["scale"] = try scaleSuite() }
        say("total time \(Int(Date().timeIntervalSince(started))) s")
        if let json {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
            say("results written to \(json)")
        }
    }

    // MARK: Redis Streams

    func streamsSuite() throws -> [String: Any] {
        say("== Watching Redis Streams consumer groups: the poll's cost")
        let streams = try StreamBenchmark.run(quick: quick)
        say(String(format: "lookout serve --no-relay --stream 'bench:*', %d streams × 2 groups polled every 5 s: poll %.0f ms (%d polls; the longer of two read %.0f), "
                   + "Lookout %.0f ms CPU per poll (%.0f ms per 5 s without streams), Redis %.0f ms CPU per poll; one /metrics scrape with its %d stream series %.0f ms",
                   streams.streams, streams.pollSeconds.median * 1000, streams.polls, streams.pollSeconds.max * 1000, streams.lookoutCPUPerPoll * 1000,
                   streams.lookoutCPUWithoutStreams * 1000,
                   streams.redisCPUPerPoll * 1000, streams.series, streams.scrapeSeconds * 1000))
        say("")
        return ["streams": streams.streams, "groups_per_stream": 2, "polls": streams.polls, "poll_seconds": summaryObject(streams.pollSeconds),
                "scrape_seconds": streams.scrapeSeconds, "stream_series": streams.series,
                "lookout_cpu_seconds_per_poll": streams.lookoutCPUPerPoll, "lookout_cpu_seconds_per_5s_without_streams": streams.lookoutCPUWithoutStreams, "redis_cpu_seconds_per_poll": streams.redisCPUPerPoll]
    }

    // MARK: relay vs redis-server

    func relaySuite(rounds: Int) throws -> [[String: Any]] {
        say("== The relay against redis-server \(redisVersion()) (throughput: messages published per second until all were delivered)")
        say("   floor: a minimal epoll fan-out in C (Sources/CBenchSupport/floor.c), what this machine allows a pub/sub server")
        let redis = try ServerProcess.redis()
        let lookout = try ServerProcess.lookout()
        let floor = try ServerProcess.floor()
        defer {
            redis.stop()
            lookout.stop()
            floor.stop()
        }
        let servers = [redis, lookout, floor]
        var table = ResultTable()
        var rows: [[String: Any]] = []
        var maxima: [String: [String: Double]] = [:]
        // "latency at 80% of maximum" needs "PUBLISH, 1 subscriber" chosen too, for its maximum.
        let chosen = RelayScenario.all(quick: quick).filter { candidate in
            self.scenario.isEmpty || self.scenario.contains { candidate.name.contains($0) }
        }
        for scenario in chosen {
            var runs: [String: [LoadRun]] = [:]
            progress("  \(scenario.name)")
            for round in 0..<rounds {
                // Each round starts with the next server, so none always runs first.
                for server in servers[(round % servers.count)...] + servers[..<(round % servers.count)] {
                    var maximum: Double?
                    if case .shareOfMaximum(_, let source) = scenario.rate { maximum = maxima[source]?[server.name] }
                    let run = try scenario.run(on: server, maximum: maximum)
                    runs[server.name, default: []].append(run)
                }
            }
            if case .maximal = scenario.rate {
                maxima[scenario.name] = runs.mapValues { Summary($0.map(\.rate)).median }
            }
            let redisRuns = runs["redis"] ?? []
            let lookoutRuns = runs["lookout"] ?? []
            let floorRuns = runs["floor"] ?? []
            let memory = (Summary(redisRuns.map { Double($0.peakResidentBytes) }).median, Summary(lookoutRuns.map { Double($0.peakResidentBytes) }).median)
            if scenario.reportsLatency {
                for (label, quantile) in [("p50", 0.5), ("p99", 0.99), ("p999", 0.999)] {
                    let redisFigure = Summary(redisRuns.map { $0.latency(quantile) * 1e6 })
                    let lookoutFigure = Summary(lookoutRuns.map { $0.latency(quantile) * 1e6 })
                    let floorFigure = Summary(floorRuns.map { $0.latency(quantile) * 1e6 })
                    table.add(scenario.name, "\(label) µs", redisFigure, lookoutFigure, floor: floorFigure, memory: memory)
                    rows.append(row(scenario.name, "latency_\(label)_us", redisFigure, lookoutFigure, floor: floorFigure, memory: memory))
                }
                let rates = (Summary(redisRuns.map(\.rate)), Summary(lookoutRuns.map(\.rate)), Summary(floorRuns.map(\.rate)))
                table.add(scenario.name, "msgs/s", rates.0, rates.1, floor: rates.2, memory: nil)
            } else {
                let redisFigure = Summary(redisRuns.map(\.rate))
                let lookoutFigure = Summary(lookoutRuns.map(\.rate))
                let floorFigure = Summary(floorRuns.map(\.rate))
                table.add(scenario.name, "msgs/s", redisFigure, lookoutFigure, floor: floorFigure, memory: memory)
                rows.append(row(scenario.name, "msgs_per_second", redisFigure, lookoutFigure, floor: floorFigure, memory: memory))
                let cpu = (Summary(redisRuns.map(\.cpuMicrosecondsPerMessage)), Summary(lookoutRuns.map(\.cpuMicrosecondsPerMessage)),
                           Summary(floorRuns.map(\.cpuMicrosecondsPerMessage)))
                table.add(scenario.name, "CPU µs/msg", cpu.0, cpu.1, floor: cpu.2, memory: nil)
                rows.append(row(scenario.name, "cpu_us_per_message", cpu.0, cpu.1, floor: cpu.2, memory: nil))
            }
            let lost = (redisRuns + lookoutRuns + floorRuns).contains { run in run.received < run.published * scenario.receivers }
            if lost { say("  note: \(scenario.name): some messages were not delivered within the wait") }
        }
        // Independent cross-check: redis-benchmark's own PUBLISH loop against both.
        var crossCheck: [String: Double] = [:]
        for server in servers {
            crossCheck[server.name] = Self.redisBenchmark(port: server.port, requests: quick ? 200_000 : 1_000_000)
        }
        if let redisRate = crossCheck["redis"], let lookoutRate = crossCheck["lookout"] {
            let floorRate = crossCheck["floor"].map { Summary([$0]) }
            table.add("redis-benchmark PUBLISH -P 16, 0 subscribers", "msgs/s", Summary([redisRate]), Summary([lookoutRate]), floor: floorRate,
                      memory: nil)
            rows.append(row("redis-benchmark PUBLISH -P 16", "msgs_per_second", Summary([redisRate]), Summary([lookoutRate]), floor: floorRate,
                            memory: nil))
        }
        say(table.render(left: "redis", right: "lookout"))
        return rows
    }

    // MARK: monitor

    func monitorSuite(rounds: Int) throws -> [String: Any] {
        say("== What watching costs")
        var result: [String: Any] = [:]
        // (a) The relay with the monitor observing every publish and delivery, and with no observer.
        do {
            let watched = try ServerProcess.lookout(name: "watched")
            let unwatched = try ServerProcess.lookout(["--bench-unobserved"], name: "unwatched")
            defer {
                watched.stop()
                unwatched.stop()
            }
            var table = ResultTable()
            var costs: [[String: Any]] = []
            for scenario in RelayScenario.all(quick: quick).filter({ $0.name == "PUBLISH, 0 subscribers" || $0.name == "PUBLISH, 1 subscriber" }) {
                var runs: [String: [LoadRun]] = [:]
                for round in 0..<rounds {
                    for server in round % 2 == 0 ? [unwatched, watched] : [watched, unwatched] {
                        runs[server.name, default: []].append(try scenario.run(on: server, maximum: nil))
                    }
                }
                let off = Summary(runs["unwatched", default: []].map(\.rate))
                let on = Summary(runs["watched", default: []].map(\.rate))
                table.add(scenario.name, "msgs/s", off, on, memory: nil)
                // CPU per message does not depend on how much of the shared cores the generator got.
                let cpuOff = Summary(runs["unwatched", default: []].map(\.cpuMicrosecondsPerMessage))
                let cpuOn = Summary(runs["watched", default: []].map(\.cpuMicrosecondsPerMessage))
                table.add(scenario.name, "CPU µs/msg", cpuOff, cpuOn, memory: nil)
                costs.append(["scenario": scenario.name, "unobserved": summaryObject(off), "observed": summaryObject(on),
                              "cost_percent": (1 - on.median / off.median) * 100,
                              "unobserved_cpu_us_per_message": summaryObject(cpuOff), "observed_cpu_us_per_message": summaryObject(cpuOn)])
            }
            say("(a) the relay without and with the monitor (cost = 1 − observed/unobserved)")
            say(table.render(left: "no observer", right: "monitor on"))
            result["relay_observer_cost"] = costs
        }
        // (c) A scrape with 1,000 channels and 1,000 consumers.
        let scrape = try MonitorBenchmarks.scrapeCost(quick: quick)
        say(String(format: "(c) GET /metrics with %d channels and %d consumers: median %.1f ms (min %.1f, max %.1f), %d KiB\n",
                     scrape.channels, scrape.consumers, scrape.milliseconds.median, scrape.milliseconds.min, scrape.milliseconds.max,
                     scrape.bytes / 1024))
        result["scrape"] = ["channels": scrape.channels, "consumers": scrape.consumers, "ms": summaryObject(scrape.milliseconds), "bytes": scrape.bytes]
        return result
    }

    // MARK: beside Redis

    func sidecarSuite() throws -> [String: Any] {
        say("== Watching a Redis: Lookout's CPU, and what it costs the Redis it watches")
        var result: [String: Any] = [:]
        // (b) Beside Redis: does the monitor keep up with a maximal publisher, and at what CPU cost?
        var sidecarRuns: [[String: Any]] = []
        for channelCount in [10, 10_000] {
            for run in 1...(quick ? 1 : 3) {
                let sidecar = try MonitorBenchmarks.sidecar(quick: quick, channelCount: channelCount)
                say("(b) lookout serve --no-relay --redis, maximal publisher on \(channelCount) channels, run \(run): "
                      + "published \(sidecar.published) at \(Int(sidecar.publishRate)) msgs/s; "
                      + "hiredis subscriber counted \(sidecar.hiredisCount), Lookout counted \(sidecar.lookoutCount) "
                      + "(\(sidecar.lookoutCount == sidecar.hiredisCount ? "equal" : "DIFFERENT")), reconnects \(sidecar.reconnects), "
                      + String(format: "CPU %.2f µs per message", sidecar.cpuMicrosecondsPerMessage))
                sidecarRuns.append(["channels": channelCount, "run": run, "published": sidecar.published, "hiredis_count": sidecar.hiredisCount,
                                    "lookout_count": sidecar.lookoutCount, "reconnects": sidecar.reconnects,
                                    "cpu_us_per_message": sidecar.cpuMicrosecondsPerMessage, "publish_rate": sidecar.publishRate])
            }
        }
        result["runs"] = sidecarRuns
        // (d) Beside a Redis Cluster: every primary published to at once, classic and sharded.
        var cluster: [[String: Any]] = []
        for phase in try ClusterBenchmark.run(quick: quick) {
            say("(d) lookout serve --no-relay --redis <node 1> on a 3-primary Redis Cluster, \(phase.kind) as fast as each primary goes: "
                  + "published \(phase.published) at \(Int(phase.publishRate)) msgs/s; hiredis counted \(phase.hiredisCounts), "
                  + "Lookout counted \(phase.lookoutCounts) (\(phase.equal ? "equal" : "DIFFERENT")), reconnects \(phase.reconnects), "
                  + String(format: "CPU %.2f µs per message", phase.cpuMicrosecondsPerMessage))
            cluster.append(["kind": phase.kind, "published": phase.published, "publish_rate": phase.publishRate,
                            "hiredis_counts": phase.hiredisCounts, "lookout_counts": phase.lookoutCounts, "equal": phase.equal,
                            "reconnects": phase.reconnects, "cpu_us_per_message": phase.cpuMicrosecondsPerMessage])
        }
        result["cluster"] = cluster
        // (e) The watched Redis's own CPU per message, alone and with Lookout attached.
        let cost = try MonitorBenchmarks.redisCost(quick: quick)
        var costRows: [[String: Any]] = []
        for variant in MonitorBenchmarks.RedisCostVariant.allCases {
            let rounds = cost.rounds.filter { $0.variant == variant }
            let redisCPU = Summary(rounds.map(\.redisMicroseconds))
            let line = String(format: "(e) redis-benchmark -P 16 PUBLISH to a channel with one subscriber, %@: Redis %.3f µs CPU per message (median of %d; min %.3f, max %.3f)",
                              variant.description, redisCPU.median, rounds.count, redisCPU.min, redisCPU.max)
            var row: [String: Any] = ["variant": variant.rawValue, "redis_cpu_us_per_message": summaryObject(redisCPU),
                                      "publish_rate": summaryObject(Summary(rounds.map(\.publishRate)))]
            if variant == .alone || variant == .patternSubscriber {
                let ratio = redisCPU.median / (cost.median(.alone) ?? .nan)
                say(line + (variant == .alone ? "" : String(format: ", %.2f× alone", ratio)))
                if variant == .patternSubscriber { row["ratio_to_alone"] = ratio }
            } else {
                let ratio = redisCPU.median / (cost.median(.alone) ?? .nan)
                let lookoutCPU = Summary(rounds.map(\.lookoutMicroseconds))
                let counted = rounds.allSatisfy { $0.lookoutCount == $0.expectedLookoutCount }
                say(line + String(format: ", %.2f× alone; Lookout %.3f µs per message; Lookout counted %@", ratio, lookoutCPU.median,
                                  counted ? "every message it watches" : "DIFFERENT: \(rounds.map(\.lookoutCount))"))
                row["ratio_to_alone"] = ratio
                row["lookout_cpu_us_per_message"] = summaryObject(lookoutCPU)
                row["lookout_counted_all"] = counted
            }
            costRows.append(row)
        }
        result["redis_cost"] = costRows
        say("")
        return result
    }

    // MARK: micro

    func microSuite() async throws -> [String: Any] {
        say("== Hot pure code, in process (best of 5 rounds)")
        let results = MicroBenchmarks.run(quick: quick)
        let nameWidth = results.map(\.name.count).max() ?? 20
        say("benchmark".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "      ns/op  allocs/op  instructions/op")
        for result in results {
            say(result.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                  + String(format: " %10.1f %10.2f %16@", result.nanoseconds, result.allocations,
                           result.instructions.map { String(format: "%.0f", $0) } ?? "n/a"))
        }
        if let contract = results.first(where: { $0.name == MicroBenchmarks.contractBenchmarkName }) {
            say(String(format: "event contracts: %.0f validated messages per second per core (1 KiB CloudEvent, schema, sequence, duplicates)",
                       1e9 / contract.nanoseconds))
        }
        var fanOut: [[String: Any]] = []
        for observed in [false, true] {
            let result = try await MicroBenchmarks.relayFanOut(observed: observed, quick: quick)
            say(String(format: "relay fan-out to 1 subscriber%@: %.3f allocations per message (%d messages, warmed up)",
                         observed ? " with the monitor's tap" : ", no observer", result.allocationsPerMessage, result.messages))
            fanOut.append(["observed": observed, "allocations_per_message": result.allocationsPerMessage, "messages": result.messages])
        }
        say("")
        return [
            "functions": results.map { ["name": $0.name, "ns_per_op": $0.nanoseconds, "allocations_per_op": $0.allocations,
                                        "instructions_per_op": $0.instructions.map { $0 as Any } ?? NSNull()] },
            "relay_fan_out": fanOut,
        ]
    }

    // MARK: store

    func storeSuite() throws -> [String: Any] {
        say("== Store: every default tier full, the writer's flush on top, history over 30 days")
        let store = try StoreBenchmark.run(quick: quick)
        for tier in store.tiers {
            say(String(format: "tier %@: %d rows, %.1f MiB, %.0f bytes per row, %.1f KiB per busy channel-day", StoreTiers.text(tier.resolution),
                       tier.rows, Double(tier.bytes) / 1_048_576, Double(tier.bytes) / Double(tier.rows), tier.bytesPerChannelDay / 1024))
        }
        say(String(format: "steady state for %d busy channels: %.0f MiB (budget %.0f MiB); the schema before tiers kept 1 s samples at %.0f KiB per busy channel-day",
                   store.channels, Double(store.steadyStateBytes) / 1_048_576, Double(store.budget) / 1_048_576,
                   store.previousSchemaBytesPerChannelDay / 1024))
        say(String(format: "flush of %d channel buckets (one per channel, every second, with the roll-ups they trigger): median %.2f ms (min %.2f, p90 %.2f, max %.2f), CPU %.2f ms per flush on average", store.channels,
                   store.flushMilliseconds.median, store.flushMilliseconds.min, store.flushMilliseconds.p90, store.flushMilliseconds.max,
                   store.cpuMillisecondsPerFlush))
        for (name, summary) in store.historyMilliseconds {
            say(String(format: "history %@ (one channel of %d): median %.2f ms (min %.2f, max %.2f)", name, store.channels, summary.median,
                       summary.min, summary.max))
        }
        say("")
        return [
            "channels": store.channels,
            "tiers": store.tiers.map { ["resolution": $0.resolution, "rows": $0.rows, "bytes": $0.bytes, "bytes_per_channel_day": $0.bytesPerChannelDay] },
            "steady_state_bytes": store.steadyStateBytes,
            "previous_schema_bytes_per_channel_day": store.previousSchemaBytesPerChannelDay,
            "flush_ms": summaryObject(store.flushMilliseconds),
            "flush_cpu_ms": store.cpuMillisecondsPerFlush,
            "history_ms": Dictionary(uniqueKeysWithValues: store.historyMilliseconds.map { ($0.0, summaryObject($0.1)) }),
        ]
    }

    // MARK: scale

    func scaleSuite() throws -> [[String: Any]] {
        say("== Scale: heartbeat consumers (1 s interval, 50 groups) starting together on the relay, store on")
        say("consumers  series     all up after  longest monitor iteration  not up at the end  CPU µs/heartbeat (steady)  /metrics          RSS")
        var results: [[String: Any]] = []
        for (consumers, series) in [(1_000, "auto"), (10_000, "auto"), (10_000, "all")] {
            do {
                let fleet = try ScaleBenchmark.fleet(consumers: consumers, seconds: quick ? 12 : 20, consumerSeries: series)
                say(String(format: "%9d  %-9@  %12@  %22.0f ms  %17d  %25.1f  %5.0f ms %5.2f MB  %4d MiB", consumers, series,
                           fleet.secondsToAllUp.map { String(format: "%.1f s", $0) } ?? "never", fleet.longestIteration * 1000, fleet.notUp,
                           fleet.cpuMicrosecondsPerHeartbeat, fleet.metricsSeconds * 1000, Double(fleet.metricsBytes) / 1e6, fleet.residentMiB))
                results.append([
                    "consumers": consumers, "consumer_series": series, "seconds_to_all_up": fleet.secondsToAllUp ?? -1,
                    "longest_iteration_seconds": fleet.longestIteration, "not_up": fleet.notUp,
                    "cpu_us_per_heartbeat": fleet.cpuMicrosecondsPerHeartbeat, "metrics_seconds": fleet.metricsSeconds,
                    "metrics_bytes": fleet.metricsBytes, "rss_mib": fleet.residentMiB,
                ])
            } catch {
                say(String(format: "%9d  %-9@  failed: %@", consumers, series, "\(error)"))
                results.append(["consumers": consumers, "consumer_series": series, "error": "\(error)"])
            }
        }
        say("channels  --max-channels  published  counted  CPU µs/msg  longest monitor iteration  /metrics          RSS")
        for (channels, cap) in [(10_000, 1_000), (100_000, 1_000), (100_000, 20_000)] {
            do {
                let result = try ScaleBenchmark.channels(channels, maxChannels: cap, perChannel: quick ? 2 : 5)
                say(String(format: "%8d  %14d  %9d  %7d  %10.2f  %22.0f ms  %5.0f ms %5.1f MB  %4d MiB", channels, cap, result.published, result.counted,
                           result.cpuMicrosecondsPerMessage, result.longestIteration * 1000, result.metricsSeconds * 1000,
                           Double(result.metricsBytes) / 1e6, result.residentMiB))
                results.append([
                    "channels": channels, "max_channels": cap, "published": result.published, "counted": result.counted,
                    "cpu_us_per_message": result.cpuMicrosecondsPerMessage, "longest_iteration_seconds": result.longestIteration,
                    "metrics_seconds": result.metricsSeconds, "metrics_bytes": result.metricsBytes, "rss_mib": result.residentMiB,
                ])
            } catch {
                say(String(format: "%8d  %14d  failed: %@", channels, cap, "\(error)"))
                results.append(["channels": channels, "max_channels": cap, "error": "\(error)"])
            }
        }
        say("")
        return results
    }

    // MARK: helpers

    func row(_ scenario: String, _ metric: String, _ redis: Summary, _ lookout: Summary, floor: Summary? = nil,
             memory: (Double, Double)?) -> [String: Any] {
        var row: [String: Any] = ["scenario": scenario, "metric": metric, "redis": summaryObject(redis), "lookout": summaryObject(lookout),
                                  "ratio": lookout.median / redis.median]
        if let floor { row["floor"] = summaryObject(floor) }
        if let memory { row["rss_bytes"] = ["redis": memory.0, "lookout": memory.1] }
        return row
    }

    /// `redis-benchmark … PUBLISH <channel> hello` (`clients` connections, 16 commands per
    /// pipeline, on `cpu` when given): its requests per second, or nil.
    static func redisBenchmark(port: Int, requests: Int, channel: String = "bench", clients: Int = 4, cpu: Int? = nil) -> Double? {
        guard let (path, pinning) = try? ServerProcess.pinned(try executable("redis-benchmark"), cpu: cpu) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = pinning + ["-h", "127.0.0.1", "-p", "\(port)", "-n", "\(requests)", "-c", "\(clients)", "-P", "16", "-q", "PUBLISH", channel, "hello"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        guard (try? process.run()) != nil else { return nil }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // "PUBLISH bench hello: 123456.79 requests per second, p50=0.031 msec"
        guard let range = output.range(of: " requests per second") else { return nil }
        return Double(output[..<range.lowerBound].split(whereSeparator: { $0 == " " || $0 == "\r" || $0 == "\n" }).last ?? "")
    }

    func redisVersion() -> String {
        guard let path = try? executable("redis-server") else { return "?" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { return "?" }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return output.split(separator: " ").first { $0.hasPrefix("v=") }.map { String($0.dropFirst(2)) } ?? "?"
    }
}

/// The side-by-side table: scenario, metric, left and right (median, min–max), ratio right/left,
/// the floor server's median with each side's ratio to it when measured, and peak resident
/// memory of each server.
struct ResultTable {
    private var rows: [[String]] = []
    private var hasFloor = false

    mutating func add(_ scenario: String, _ metric: String, _ left: Summary, _ right: Summary, floor: Summary? = nil,
                      memory: (Double, Double)?) {
        func ratio(_ top: Summary, _ bottom: Summary?) -> String {
            guard let bottom, !bottom.median.isNaN else { return "" }
            return String(format: "%.2f", top.median / bottom.median)
        }
        hasFloor = hasFloor || floor != nil
        rows.append([scenario, metric, Self.figure(left), Self.figure(right), ratio(right, left),
                     floor.map { Self.figure(Summary([$0.median])) } ?? "", ratio(left, floor), ratio(right, floor),
                     memory.map { "\(Int($0.0 / 1_048_576))" } ?? "", memory.map { "\(Int($0.1 / 1_048_576))" } ?? ""])
    }

    func render(left: String, right: String) -> String {
        let header = ["scenario", "metric", "\(left) (median, min–max)", "\(right) (median, min–max)", "\(right)/\(left)",
                      "floor", "\(left)/floor", "\(right)/floor", "RSS MiB \(left)", "RSS MiB \(right)"]
        let shown = hasFloor ? Array(header.indices) : header.indices.filter { !(5...7).contains($0) }
        let all = ([header] + rows).map { row in shown.map { row[$0] } }
        let widths = shown.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index < 2 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[index] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    static func figure(_ summary: Summary) -> String {
        func short(_ value: Double) -> String {
            if value.isNaN { return "-" }
            if value >= 1_000_000 { return String(format: "%.2fM", value / 1_000_000) }
            if value >= 10_000 { return String(format: "%.0fk", value / 1000) }
            return String(format: value >= 100 ? "%.0f" : (value >= 10 ? "%.1f" : "%.2f"), value)
        }
        return summary.min == summary.max ? short(summary.median) : "\(short(summary.median)) (\(short(summary.min))–\(short(summary.max)))"
    }
}

func summaryObject(_ summary: Summary) -> [String: Double] {
    ["median": summary.median, "min": summary.min, "max": summary.max, "p90": summary.p90]
}

/// A line on standard output, written at once (print is block-buffered into a file or pipe).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// A line on standard error, so the table on standard output stays clean.
func progress(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// CPU model and count, memory, kernel: what a reader needs to compare figures.
func machineDescription() -> String {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?
        .trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    let memory = ((try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? "").split(separator: "\n").first?
        .split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { "\($0 / 1_048_576) GiB" } ?? "? GiB"
    var name = utsname()
    uname(&name)
    let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    return "\(model), \(ProcessInfo.processInfo.activeProcessorCount) CPUs, \(memory) RAM, Linux \(kernel)"
}
