#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LookoutCore
import LookoutTestSupport
import NIOCore
import RESP
import Synchronization

/// `make soak`: `lookout serve` (release) on its relay and beside a real redis-server, under
/// churn and injected faults for a bounded time, then checked: resident memory flat after
/// warm-up, file descriptors back to their baseline, every message published on the relay
/// accounted for (delivered or published to nobody, Lookout's counts equal to the clients'),
/// Redis messages missed only inside the injected faults, SQLite within its retention, and no
/// error in the log but the injected faults'. Loopback only; every loop bounded in count and time.
@main struct LookoutSoak {
    static func main() throws {
        var seconds = 600.0
        if let index = CommandLine.arguments.firstIndex(of: "--duration"), index + 1 < CommandLine.arguments.count {
            guard let parsed = DurationText.seconds(CommandLine.arguments[index + 1]), parsed >= 60 else {
                print("lookout-soak: --duration takes a duration of at least 60s, such as 10m")
                exit(2)
            }
            seconds = parsed
        }
        let soak = try Soak(seconds: seconds)
        let passed = try soak.run()
        exit(passed ? 0 : 1)
    }
}

/// Counts kept by the load's threads.
struct Tally: Sendable {
    var relayPublished = 0
    var relayReceivers = 0
    var relayUnrouted = 0
    var subscriberMessages = 0
    var subscriberSessions = 0
    var slowDisconnects = 0
    var redisPublished = 0
    var redisPublishedDuringFaults = 0
    var heartbeats = 0
}

/// The soak's processes, load and checks.
final class Soak: @unchecked Sendable {
    // @unchecked: the load's threads share only the Mutex and Atomic properties, and the
    // processes' lets (ports, pid) and read-only accessors (an HTTP GET, the log file, /proc);
    // `redis` is touched by the main thread alone.
    let seconds: Double
    /// Touched by the main thread only (the restart, the final stop).
    private var redis: RedisServer?
    let redisPort: Int
    let proxy: FaultProxy
    let lookout: LookoutProcess
    let databasePath: String
    let tally = Mutex(Tally())
    let stopping = Atomic<Bool>(false)
    /// True while a fault is injected (and until Lookout reports the source back).
    let faultActive = Atomic<Bool>(false)
    let start = TestConnection.now()
    static let rawRetention = "2m"

    init(seconds: Double) throws {
        self.seconds = seconds
        let server = try RedisServer()
        redisPort = server.port
        redis = server
        proxy = try FaultProxy(upstreamPort: server.port)
        databasePath = NSTemporaryDirectory() + "lookout-soak-\(getpid()).db"
        lookout = try LookoutProcess(arguments: [
            "--redis", "redis://127.0.0.1:\(proxy.port)", "--db", databasePath, "--raw-retention", Self.rawRetention,
            "--client-output-buffer-limit", "1mb 256kb 2", "--alert-hold", "5s",
        ])
    }

    private var deadline: Double { start + seconds }
    private var running: Bool { !stopping.load(ordering: .relaxed) && TestConnection.now() < deadline }

    /// Runs the load and the faults, then the checks; true when every check passed.
    func run() throws -> Bool {
        print("lookout-soak: \(Int(seconds)) s; lookout pid \(lookout.child.pid), relay \(lookout.port), redis \(redisPort) via proxy \(proxy.port)")
        guard blockingEventually(seconds: 20, { (try? lookout.get("/readyz").status) == 200 }) != nil else {
            print("lookout-soak: lookout never became ready")
            return false
        }
        let baselineDescriptors = descriptorCount()
        var threads: [Thread] = []
        func spawn(_ body: @escaping @Sendable () -> Void) {
            let thread = Thread(block: body)
            thread.start()
            threads.append(thread)
        }
        for index in 0..<3 { spawn { self.relayPublisher(index) } }
        for index in 0..<6 { spawn { self.subscriber(index) } }
        spawn { self.slowSubscriber() }
        for index in 0..<4 { spawn { self.heartbeatConsumer(index) } }
        spawn { self.redisPublisher() }

        // Faults at a third and two thirds of the time; memory and descriptors every 5 s.
        var samples: [(at: Double, rss: Int, descriptors: Int)] = []
        var restarted = false
        var blackholed = false
        while running {
            let elapsed = TestConnection.now() - start
            if !restarted && elapsed > seconds / 3 {
                restarted = true
                restartRedis()
            }
            if !blackholed && elapsed > 2 * seconds / 3 {
                blackholed = true
                try blackhole(for: 12)
            }
            samples.append((elapsed, lookout.child.residentBytes() ?? 0, descriptorCount()))
            let next = TestConnection.now() + 5
            while running && TestConnection.now() < next { usleep(100_000) }
        }
        stopping.store(true, ordering: .relaxed)
        let joinDeadline = TestConnection.now() + 30
        while threads.contains(where: { !$0.isFinished }) && TestConnection.now() < joinDeadline { usleep(50_000) }
        // Lookout reads what is in flight and the store flushes.
        sleep(3)
        return try check(samples: samples, baselineDescriptors: baselineDescriptors)
    }

    // MARK: Load

    private func relayPublisher(_ index: Int) {
        var generator = SplitMix64(state: UInt64(index + 1))
        var batches = 0
        while running && batches < 1_000_000 {
            guard let connection = try? TestConnection(port: lookout.port) else { usleep(100_000); continue }
            for _ in 0..<20 where running {
                var pipeline: [UInt8] = []
                for _ in 0..<100 {
                    let channel = "soak.\(generator.next() % 30)"
                    pipeline += encodeRequest([Array("PUBLISH".utf8), Array(channel.utf8), Array(repeating: UInt8(ascii: "x"), count: 100)])
                }
                guard (try? connection.send(pipeline)) != nil, let replies = try? connection.readValues(100) else { break }
                let receivers = replies.compactMap { if case .integer(let n) = $0 { Int(n) } else { nil } }
                tally.withLock { tally in
                    tally.relayPublished += 100
                    tally.relayReceivers += receivers.reduce(0, +)
                    tally.relayUnrouted += receivers.filter { $0 == 0 }.count
                }
                batches += 1
                usleep(5_000)
            }
        }
    }

    /// Subscribes to a few channels (or a pattern), reads for 1–3 s, leaves; again.
    private func subscriber(_ index: Int) {
        var generator = SplitMix64(state: UInt64(100 + index))
        var sessions = 0
        while running && sessions < 100_000 {
            guard let connection = try? TestConnection(port: lookout.port) else { usleep(100_000); continue }
            if index % 3 == 0 {
                try? connection.send(command: "PSUBSCRIBE", "soak.\(generator.next() % 3)*")
            } else {
                try? connection.send(command: [Array("SUBSCRIBE".utf8)] + (0..<3).map { _ in Array("soak.\(generator.next() % 30)".utf8) })
            }
            var messages = 0
            let seconds = 1 + Double(generator.next() % 2000) / 1000
            _ = try? connection.read(until: { value in
                if value.elements?.first?.string?.hasSuffix("message") == true { messages += 1 }
                return false
            }, timeoutSeconds: seconds)
            sessions += 1
            tally.withLock {
                $0.subscriberMessages += messages
                $0.subscriberSessions += 1
            }
        }
    }

    /// Every 20 s a subscriber on `soak.hot` that never reads, while 8 KiB messages flow there,
    /// until the relay disconnects it for its output buffer (at most 8 MiB offered per round).
    private func slowSubscriber() {
        var rounds = 0
        while running && rounds < 1000 {
            rounds += 1
            guard let slow = try? TestConnection(port: lookout.port), let publisher = try? TestConnection(port: lookout.port) else { usleep(100_000); continue }
            try? slow.send(command: "SUBSCRIBE", "soak.hot")
            usleep(100_000)
            let payload = Array(repeating: UInt8(ascii: "h"), count: 8192)
            var offered = 0
            var receiversSum = 0
            var published = 0
            var unrouted = 0
            while running && offered < 8 << 20 {
                guard (try? publisher.send(command: [Array("PUBLISH".utf8), Array("soak.hot".utf8), payload])) != nil,
                      let reply = try? publisher.readValues(1).first, case .integer(let receivers) = reply else { break }
                published += 1
                receiversSum += Int(receivers)
                if receivers == 0 {
                    unrouted += 1
                    break  // the slow subscriber is gone
                }
                offered += payload.count
            }
            tally.withLock {
                $0.relayPublished += published
                $0.relayReceivers += receiversSum
                $0.relayUnrouted += unrouted
                if unrouted > 0 { $0.slowDisconnects += 1 }
            }
            let next = TestConnection.now() + 20
            while running && TestConnection.now() < next { usleep(100_000) }
        }
    }

    /// A consumer beating every 300 ms on the relay; consumer 0 falls silent 6 s in every 30.
    private func heartbeatConsumer(_ index: Int) {
        let heartbeat = #"{"v":1,"consumer":"soak-\#(index)","group":"soak","interval_ms":300}"#
        var beats = 0
        var connection: TestConnection?
        while running && beats < 1_000_000 {
            let elapsed = TestConnection.now() - start
            let silent = index == 0 && elapsed.truncatingRemainder(dividingBy: 30) > 24
            if !silent {
                if connection == nil { connection = try? TestConnection(port: lookout.port) }
                if let reply = try? connection?.call("PUBLISH", OwnChannels.heartbeat, heartbeat), case .integer(let receivers) = reply {
                    beats += 1
                    tally.withLock { tally in
                        tally.heartbeats += 1
                        tally.relayPublished += 1
                        tally.relayReceivers += Int(receivers)
                        tally.relayUnrouted += receivers == 0 ? 1 : 0
                    }
                } else {
                    connection = nil
                }
            }
            usleep(300_000)
        }
    }

    /// 50 messages every 100 ms straight to redis-server (not through the proxy).
    private func redisPublisher() {
        var connection: TestConnection?
        var sent = 0
        while running && sent < 10_000_000 {
            if connection == nil { connection = try? TestConnection(port: redisPort) }
            guard let current = connection else {
                usleep(100_000)
                continue
            }
            var pipeline: [UInt8] = []
            for i in 0..<50 { pipeline += encodeRequest([Array("PUBLISH".utf8), Array("rsoak.\(i % 10)".utf8), Array("m".utf8)]) }
            let duringFault = faultActive.load(ordering: .relaxed)
            if (try? current.send(pipeline)) != nil, (try? current.readValues(50, timeoutSeconds: 5)) != nil {
                sent += 50
                // A fault counts until Lookout reports the source up again; a batch that straddles
                // its end is counted as inside it.
                let inside = duringFault || faultActive.load(ordering: .relaxed)
                tally.withLock {
                    $0.redisPublished += 50
                    if inside { $0.redisPublishedDuringFaults += 50 }
                }
            } else {
                connection = nil
            }
            usleep(100_000)
        }
    }

    // MARK: Faults

    private func sourceUp() -> Bool {
        guard let metrics = try? lookout.get("/metrics").body else { return false }
        return metrics.contains("lookout_source_up{source=\"redis://127.0.0.1:\(proxy.port)\"} 1")
    }

    private func restartRedis() {
        print("lookout-soak: restarting redis-server")
        faultActive.store(true, ordering: .relaxed)
        redis?.stop()
        redis = nil
        sleep(2)
        redis = try? RedisServer(port: redisPort)
        let back = blockingEventually(seconds: 30) { sourceUp() }
        print("lookout-soak: redis-server restarted; the source was up again \(back.map { String(format: "%.1f", $0) } ?? "never") s later")
        faultActive.store(false, ordering: .relaxed)
    }

    private func blackhole(for seconds: UInt32) throws {
        print("lookout-soak: blackholing Lookout's links to Redis for \(seconds) s")
        faultActive.store(true, ordering: .relaxed)
        let silentAt = TestConnection.now()
        try blockingAwait { try await self.proxy.blackhole() }
        let noticed = blockingEventually(seconds: 20) { !sourceUp() }
        while TestConnection.now() < silentAt + Double(seconds) { usleep(100_000) }
        try blockingAwait { try await self.proxy.pass() }
        let back = blockingEventually(seconds: 30) { sourceUp() }
        print(String(format: "lookout-soak: blackhole noticed after %.1f s; source up %.1f s after the link came back", noticed ?? -1, back ?? -1))
        faultActive.store(false, ordering: .relaxed)
    }

    // MARK: Checks

    private func descriptorCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(lookout.child.pid)/fd").count) ?? -1
    }

    private func check(samples: [(at: Double, rss: Int, descriptors: Int)], baselineDescriptors: Int) throws -> Bool {
        var failures: [String] = []
        var rows: [(String, String)] = []
        let metrics = try lookout.get("/metrics").body
        func sum(_ prefix: String) -> Double {
            metrics.split(separator: "\n").filter { $0.hasPrefix(prefix) }.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        }
        let tally = self.tally.withLock { $0 }
        let info = (try? TestConnection(port: lookout.port).call("INFO", "stats").string) ?? ""
        func infoField(_ name: String) -> Int {
            info.split(separator: "\r\n").first { $0.hasPrefix(name + ":") }.flatMap { Int($0.dropFirst(name.count + 1)) } ?? -1
        }

        // The relay: every publish counted once by Lookout, delivered or published to nobody.
        let counted = Int(sum("lookout_channel_messages_total{channel=\"soak.") + sum("lookout_channel_messages_total{channel=\"lookout:heartbeat\"}"))
        let unrouted = Int(sum("lookout_channel_unrouted_messages_total{channel=\"soak."))
        let dropped = Int(sum("lookout_monitor_observations_dropped_total"))
        rows.append(("relay: published (clients)", "\(tally.relayPublished)"))
        rows.append(("relay: counted by Lookout (+ dropped, counted)", "\(counted) + \(dropped)"))
        rows.append(("relay: deliveries (PUBLISH replies / INFO)", "\(tally.relayReceivers) / \(infoField("lookout_messages_delivered"))"))
        rows.append(("relay: to nobody (replies 0 / Lookout, own channels excluded)", "\(tally.relayUnrouted - tally.heartbeats) / \(unrouted)"))
        if counted + dropped != tally.relayPublished { failures.append("Lookout counted \(counted) + \(dropped) dropped of \(tally.relayPublished) published") }
        // INFO also counts what Lookout itself published: its alerts on the bus channel.
        let busAlerts = Int(sum("lookout_alerts_sent_total{notifier=\"bus\""))
        rows.append(("relay: INFO published (clients + Lookout's bus alerts)", "\(infoField("lookout_messages_published")) = \(tally.relayPublished) + \(busAlerts)"))
        if infoField("lookout_messages_published") != tally.relayPublished + busAlerts {
            failures.append("INFO published \(infoField("lookout_messages_published")) ≠ \(tally.relayPublished) + \(busAlerts)")
        }
        if infoField("lookout_messages_delivered") != tally.relayReceivers { failures.append("INFO delivered ≠ the PUBLISH replies' sum") }
        if unrouted != tally.relayUnrouted - tally.heartbeats { failures.append("unrouted \(unrouted) ≠ \(tally.relayUnrouted - tally.heartbeats) replies of 0") }
        rows.append(("relay: subscriber sessions / messages read", "\(tally.subscriberSessions) / \(tally.subscriberMessages)"))
        let slow = Int(sum("lookout_relay_slow_subscriber_disconnects_total"))
        rows.append(("relay: slow subscribers disconnected (seen / Lookout)", "\(tally.slowDisconnects) / \(slow)"))
        if slow < tally.slowDisconnects || tally.slowDisconnects == 0 { failures.append("slow-subscriber disconnects not counted") }

        // Redis: misses only inside the faults.
        let redisCounted = Int(sum("lookout_channel_messages_total{channel=\"rsoak."))
        let missed = tally.redisPublished - redisCounted
        rows.append(("redis: published / counted / published during faults", "\(tally.redisPublished) / \(redisCounted) / \(tally.redisPublishedDuringFaults)"))
        if missed < 0 || missed > tally.redisPublishedDuringFaults { failures.append("\(missed) Redis messages missed outside the injected faults") }
        rows.append(("redis: source reconnects / gap seconds",
                     "\(Int(sum("lookout_source_reconnects_total"))) / \(String(format: "%.1f", sum("lookout_source_gap_seconds_total")))"))

        // Memory flat after warm-up (the first fifth, at least 60 s), descriptors back to baseline.
        let warm = samples.filter { $0.at >= max(60, seconds / 5) }
        let low = warm.map(\.rss).min() ?? 0
        let high = warm.map(\.rss).max() ?? 0
        let bound = 32 << 20
        rows.append(("rss after warm-up: min / max / growth (bound 32 MiB)", "\(low >> 20) / \(high >> 20) / \((high - low) >> 20) MiB"))
        if warm.isEmpty || high - low > bound { failures.append("resident memory grew \((high - low) >> 20) MiB after warm-up") }
        let back = blockingEventually(seconds: 15) { descriptorCount() <= baselineDescriptors }
        rows.append(("file descriptors: baseline / peak / end", "\(baselineDescriptors) / \(samples.map(\.descriptors).max() ?? 0) / \(descriptorCount())"))
        if back == nil { failures.append("file descriptors \(descriptorCount()) after the load, \(baselineDescriptors) before") }

        // The store: nothing older than the raw retention (plus a minute of expiry slack) is kept.
        let size = ((try? FileManager.default.attributesOfItem(atPath: databasePath)[.size] as? Int) ?? 0)
            + ((try? FileManager.default.attributesOfItem(atPath: databasePath + "-wal")[.size] as? Int) ?? 0)
        let stale = try runCommand(try executable("sqlite3"), [databasePath,
            "SELECT count(*) FROM recent_samples WHERE bucket < strftime('%s','now') - \(Int(DurationText.seconds(Self.rawRetention)!) + 60)"])
        rows.append(("sqlite: database + WAL / raw rows past retention", "\(size >> 10) KiB / \(stale.output.trimmingCharacters(in: .whitespacesAndNewlines))"))
        if stale.output.trimmingCharacters(in: .whitespacesAndNewlines) != "0" { failures.append("raw samples kept past their retention") }

        // Errors in the log: only the injected faults'.
        let injected = ["subscription to Redis lost", "Server closed the connection", "Connection refused", "the link is silent", "did not come back",
                        "Connection reset", "Resource temporarily unavailable"]
        let errorLines = lookout.child.output().split(separator: "\n").filter { $0.contains(" error ") || $0.contains(" critical ") }
        // Alerts are logged at error level as they fire: the load makes them (churning
        // subscribers leave channels unserved, a consumer falls silent), they are no fault.
        let alerts = errorLines.filter { $0.contains("[Alerting] alert firing") }
        let errors = errorLines.filter { !$0.contains("[Alerting] alert firing") }
        let unexpected = errors.filter { line in !injected.contains { line.contains($0) } }
        rows.append(("alerts fired (logged)", "\(alerts.count)"))
        rows.append(("error log lines: injected faults / other", "\(errors.count - unexpected.count) / \(unexpected.count)"))
        if !unexpected.isEmpty { failures.append("unexpected errors: \(unexpected.prefix(3).joined(separator: " | "))") }

        print("\n| soak (\(Int(seconds)) s) | |\n|---|---|")
        for (name, value) in rows { print("| \(name) | \(value) |") }
        print(failures.isEmpty ? "\nlookout-soak: every check passed" : "\nlookout-soak: FAILED:\n- " + failures.joined(separator: "\n- "))
        lookout.child.stop()
        redis?.stop()
        proxy.close()
        removeDatabase(databasePath)
        return failures.isEmpty
    }
}

/// Runs async work from the soak's synchronous threads and waits for it (at most 30 s).
func blockingAwait(_ body: @escaping @Sendable () async throws -> Void) throws {
    let result = Mutex<Result<Void, any Error>?>(nil)
    Task {
        do {
            try await body()
            result.withLock { $0 = .success(()) }
        } catch {
            result.withLock { $0 = .failure(error) }
        }
    }
    let deadline = TestConnection.now() + 30
    while TestConnection.now() < deadline {
        if let done = result.withLock({ $0 }) { return try done.get() }
        usleep(10_000)
    }
    throw TestFailure("an operation on the fault proxy did not finish within 30 s")
}

/// One RESP request's bytes.
func encodeRequest(_ words: [[UInt8]]) -> [UInt8] {
    var buffer = ByteBuffer()
    RESPRequest(arguments: words.map { ByteBuffer(bytes: $0) }).encode(into: &buffer)
    return Array(buffer.readableBytesView)
}
