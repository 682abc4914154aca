import Foundation
import LookoutCore
import LookoutTestSupport
import Reports
import Testing

@testable import Store

/// A database with a known story, built through the writer: ten minutes of traffic on `orders`
/// (quiet in minute 4), lost messages on `nobody`, billing-worker-3 dying at minute 6.
func storyDatabase() throws -> TemporaryDatabase {
    let database = TemporaryDatabase()
    let (writer, _) = try database.writer()
    for second in 0..<600 {
        let at = t0 + Int64(second)
        let quiet = (240..<300).contains(second)
        var buckets = [bucket("orders", at: at, messages: quiet ? 0 : UInt64(10 + second % 7), subscribers: second < 360 ? 2 : 1,
                              latencies: quiet ? [] : [0.0004, 0.0006, 0.0009 + Double(second % 5) / 10_000])]
        if second % 10 == 0 { buckets.append(bucket("nobody", at: at, messages: 3, unrouted: 3, subscribers: 0)) }
        if second % 60 == 0 { buckets.append(bucket("audit.events", at: at, messages: 0, subscribers: 1)) }
        writer.record(buckets: buckets, consumers: [])
    }
    let deathAt = Double(t0 + 375)
    var worker1 = consumer("billing-worker-1", state: .up, since: Double(t0), lastHeartbeat: Double(t0 + 598), processed: 5_123)
    worker1.detector.progress = .init(received: 5_170, lag: 47, missed: 0, restarts: 1, reconnects: 0)
    var worker3 = consumer("billing-worker-3", state: .down, since: deathAt, lastHeartbeat: Double(t0 + 360), processed: 2_871)
    worker3.detector.progress = .init(missed: 14, reconnects: 1)
    writer.record(buckets: [], consumers: [
        worker1,
        worker3,
        HeartbeatTracker.ConsumerSnapshot(consumer: "audit-tail", group: "", detector: .init(
            state: .up, stateSince: Double(t0 + 12), reason: "", lastHeartbeatAt: Double(t0 + 12), interval: 5, processed: nil,
            failed: nil, channels: [], connectionOnly: true)),
    ])
    writer.record(.init(consumer: "billing-worker-3", group: "billing",
                        transition: .init(from: .up, to: .up, reason: "reconnected after 1.2s, missed 14 messages", at: Double(t0) + 200.5,
                                          kind: .reconnect, missed: 14)))
    writer.record(.init(consumer: "billing-worker-3", group: "billing",
                        transition: .init(from: .up, to: .late, reason: "no heartbeat for 7.5s (interval 5s)", at: Double(t0) + 367.5)))
    writer.record(.init(consumer: "billing-worker-3", group: "billing",
                        transition: .init(from: .late, to: .down, reason: "no heartbeat for 15s (interval 5s)", at: deathAt)))
    let down = Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": "billing-worker-3", "group": "billing", "severity": "critical"],
                     annotations: ["summary": "Consumer billing-worker-3 is down", "description": "no heartbeat for 15s (interval 5s)"],
                     startsAt: Date(timeIntervalSince1970: deathAt))
    var unserved = Alert(labels: ["alertname": "LookoutChannelWithoutConsumers", "channel": "nobody", "severity": "warning"],
                         annotations: ["summary": "Channel nobody carries traffic with no live consumer", "description": "Messages are lost, \"really\"."],
                         startsAt: Date(timeIntervalSince1970: Double(t0 + 30)))
    writer.record(down)
    writer.record(unserved)
    writer.record(AlertDelivery(alert: down, notifier: "webhook http://127.0.0.1:5001/hook", outcome: .success, attempts: 1,
                                at: Date(timeIntervalSince1970: deathAt + 0.2)))
    writer.record(AlertDelivery(alert: down, notifier: "bus lookout:alerts", outcome: .success, attempts: 1,
                                at: Date(timeIntervalSince1970: deathAt + 0.1)))
    writer.record(AlertDelivery(alert: unserved, notifier: "webhook http://127.0.0.1:5001/hook", outcome: .failure, attempts: 5,
                                at: Date(timeIntervalSince1970: Double(t0 + 45)), error: "HTTP 503"))
    unserved.endsAt = Date(timeIntervalSince1970: Double(t0 + 150))
    writer.record(unserved)
    // The orders contract: two broken messages kept, counts for two minutes.
    writer.record(violation: ViolationRecord(at: Double(t0) + 90.25, channel: "orders", violation: ContractViolation(
        reason: .schemaViolation, pointer: "/data/amount", message: "-3 is less than 0 (#/properties/amount/minimum)",
        identity: EventIdentity(source: "/shop/b", id: "b-17", sequence: 17, type: "com.example.order.created")),
        payload: Array(#"{"specversion":"1.0","id":"b-17","data":{"amount":-3}}"#.utf8)))
    writer.record(violation: ViolationRecord(at: Double(t0) + 95.5, channel: "orders", violation: ContractViolation(
        reason: .notJSON, message: "not JSON (or not UTF-8)"), payload: [0x6F, 0x72, 0xFF, 0x21]))
    var firstMinute = IntegrityCounts(channel: "orders", minute: t0 + 60)
    (firstMinute.invalid, firstMinute.gaps) = (2, 2)
    var laterMinute = IntegrityCounts(channel: "orders", minute: t0 + 300)
    laterMinute.duplicates = 3
    writer.record(integrity: [firstMinute, laterMinute])
    // A stream group polled every 10 s for four minutes, falling behind until a trim takes 250
    // entries it had not read; its lag unknown in the last minute.
    for poll in 0..<24 {
        let behind = poll < 18 ? 50 * (poll + 1) : nil
        writer.record(streamGroups: [StreamGroupStatus(
            source: "redis://cache:6379", stream: "orders", group: "audit", length: 5_000 + 40 * poll, consumers: 2, pending: poll < 12 ? 0 : 10,
            lag: behind, oldestUnreadAge: behind.map { Double($0) / 5 }, oldestPendingAge: poll < 12 ? 0 : 30, poison: poll >= 20 ? 1 : 0,
            lostUnread: poll >= 15 ? 250 : 0, lostUnreadInPoll: poll == 15 ? 250 : 0, deadConsumers: poll >= 20 ? ["audit-2"] : [])],
            at: Double(t0 + 60 + 10 * Int64(poll)), interval: 10)
    }
    #expect(writer.flush(now: Double(t0 + 600)))
    return database
}

@Suite struct ReportTests {
    static let style = ReportStyle(now: Double(t0 + 600), timeZone: TimeZone(identifier: "UTC")!, sparkline: true)
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// Every listing in every format, as printed from the story database.
    static func outputs() throws -> [(String, String)] {
        let database = try storyDatabase()
        let reader = try StoreReader(path: database.path)
        let (since, until) = (Double(t0), Double(t0 + 600))
        var outputs: [(String, String)] = []
        for format in OutputFormat.allCases {
            let ext = format == .table ? "txt" : format.rawValue
            outputs.append(("channels.\(ext)", Reports.channels(try reader.channels(since: since, until: until), since: since, until: until,
                                                                 format: format, style: style)))
            outputs.append(("history-orders.\(ext)", Reports.history(
                channel: "orders", try reader.history(channel: "orders", since: since, until: until, step: 60), step: 60,
                format: format, style: style)))
            outputs.append(("consumers.\(ext)", Reports.consumers(try reader.consumers(), format: format, style: style)))
            outputs.append(("consumer-billing-worker-3.\(ext)", Reports.consumer(
                try reader.consumer("billing-worker-3"), transitions: try reader.transitions(consumer: "billing-worker-3", since: since, until: until),
                format: format, style: style)))
            outputs.append(("alerts.\(ext)", Reports.alerts(try reader.alerts(since: since, until: until), format: format, style: style)))
            outputs.append(("violations.\(ext)", Reports.violations(
                try reader.violations(channel: nil, reason: nil, since: since, until: until), format: format, style: style)))
            outputs.append(("streams.\(ext)", Reports.streams(streamGroups, format: format, style: style)))
            outputs.append(("history-stream-orders-audit.\(ext)", Reports.streamGroupHistory(
                stream: "orders", group: "audit", try reader.streamGroupHistory(stream: "orders", group: "audit", since: since, until: until, step: 60),
                step: 60, format: format, style: style)))
        }
        return outputs
    }

    /// Two streams' groups as the streams watch reports them: caught up, behind with a dead
    /// consumer and poison, lag unknown, entries lost.
    static let streamGroups = [
        StreamGroupStatus(source: "redis://cache:6379", stream: "orders", group: "billing", length: 1_000, consumers: 2, pending: 0, lag: 0,
                          oldestUnreadAge: 0, oldestPendingAge: 0, poison: 0, lostUnread: 0, deadConsumers: []),
        StreamGroupStatus(source: "redis://cache:6379", stream: "orders", group: "audit-with-a-rather-long-group-name", length: 1_000, consumers: 3,
                          pending: 10, lag: 900, oldestUnreadAge: 42.5, oldestPendingAge: 3_600, poison: 1, lostUnread: 800,
                          deadConsumers: ["audit-2"]),
        StreamGroupStatus(source: "redis://cache:6379", stream: "events:signup", group: "mailer", length: 99, consumers: 1, pending: 0, lag: nil,
                          oldestUnreadAge: nil, oldestPendingAge: 0, poison: 0, lostUnread: 0, deadConsumers: []),
    ]

    @Test func streamGroupsGoThroughTheAPIsJSONUnchanged() throws {
        let json = Reports.streams(Self.streamGroups, format: .json, style: Self.style)
        #expect(Reports.streamGroups(json: Data(json.utf8)) == Self.streamGroups)
        #expect(Reports.streamGroups(json: Data(#"[{"stream": "x"}]"#.utf8)) == nil, "not the API's answer")
    }

    /// Set LOOKOUT_UPDATE_GOLDEN=1 to rewrite the files after an intended change, then review the diff.
    @Test func outputsMatchTheGoldenFiles() throws {
        for (name, text) in try Self.outputs() {
            try Self.compare(text, withGolden: name)
        }
    }

    /// Compares `text` with `Golden/name`. With LOOKOUT_UPDATE_GOLDEN=1 the file is rewritten
    /// instead, and the test fails saying so: an update is reviewed, never passed.
    static func compare(_ text: String, withGolden name: String) throws {
        let file = golden.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["LOOKOUT_UPDATE_GOLDEN"] == "1" {
            let before = try? String(contentsOf: file, encoding: .utf8)
            try text.write(to: file, atomically: true, encoding: .utf8)
            Issue.record("LOOKOUT_UPDATE_GOLDEN=1: Golden/\(name) \(before == text ? "unchanged" : "rewritten"); review the diff and run without it")
            return
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(text == expected, "\(name) differs from Golden/\(name)")
    }

    @Test func tablesFitEightyColumns() throws {
        for (name, text) in try Self.outputs() where name.hasSuffix(".txt") {
            let widest = text.split(separator: "\n").map(\.count).max() ?? 0
            #expect(widest <= 80, "\(name) is \(widest) columns wide")
        }
    }

    @Test func jsonParsesAndCSVHasOneFieldCountPerListing() throws {
        for (name, text) in try Self.outputs() {
            if name.hasSuffix(".json") {
                #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil, "\(name) is not JSON")
            } else if name.hasSuffix(".csv") {
                let records = parseCSV(text)
                #expect(records.count > 1 && Set(records.map(\.count)).count == 1, "\(name): \(records.map(\.count))")
            }
        }
    }

    @Test func historyFillsQuietStepsAndUsesRollUpsForOldData() throws {
        let database = try storyDatabase()
        let reader = try StoreReader(path: database.path)
        let points = try reader.history(channel: "orders", since: Double(t0), until: Double(t0 + 600), step: 60)
        #expect(points.count == 10)
        #expect(points[4].messages == 0 && points[4].latencyP99 == nil)
        let busySeconds = (0..<600).filter { !(240..<300).contains($0) }
        let published: UInt64 = busySeconds.map { UInt64(10 + $0 % 7) }.reduce(0, +)
        let total: UInt64 = points.map(\.messages).reduce(0, +)
        #expect(total == published)
        // The same answer at one-second steps, summed: roll-ups and raw samples count each moment once.
        let seconds = try reader.history(channel: "orders", since: Double(t0), until: Double(t0 + 600), step: 1)
        let secondsTotal: UInt64 = seconds.map(\.messages).reduce(0, +)
        #expect(seconds.count == 600 && secondsTotal == total)
    }

    @Test func unknownNamesAreOneLineErrors() throws {
        let database = try storyDatabase()
        let reader = try StoreReader(path: database.path)
        #expect(throws: StoreQueryError("unknown channel 'ordres' (lookout channels lists the recorded ones)", isUnknownName: true)) {
            try reader.history(channel: "ordres", since: 0, until: 1, step: 1)
        }
        #expect(throws: StoreQueryError("unknown consumer 'billing-worker-9' (lookout consumers lists the recorded ones)", isUnknownName: true)) {
            try reader.consumer("billing-worker-9")
        }
        #expect(throws: StoreQueryError("unknown group 'shipping' (lookout consumers lists the recorded ones)", isUnknownName: true)) {
            try reader.consumers(group: "shipping")
        }
    }

    @Test func readingNeverCreatesOrChangesAFile() throws {
        let database = try storyDatabase()
        let before = database.listing()
        #expect(before.keys.sorted() == ["lookout.db"], "the writer closed cleanly: no -wal left")
        let reader = try StoreReader(path: database.path)
        _ = try reader.channels(since: 0, until: Double(t0 + 600))
        _ = try reader.alerts(since: 0, until: Double(t0 + 600))
        #expect(database.listing() == before)
        let missing = database.directory + "/missing.db"
        #expect(throws: StoreQueryError("no database at '\(missing)' (is lookout serve writing elsewhere? use --db PATH)")) {
            try StoreReader(path: missing)
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test func timeArguments() {
        let now = Double(t0)
        #expect(TimeArgument.parse("15m", now: now) == now - 900)
        #expect(TimeArgument.parse("now", now: now) == now)
        #expect(TimeArgument.parse("2027-01-15T08:00:00Z", now: 0) == Double(t0))
        #expect(TimeArgument.parse("2027-01-15T09:00:00.5+01:00", now: 0) == Double(t0) + 0.5)
        #expect(TimeArgument.parse("yesterday", now: now) == nil)
        #expect(TimeArgument.step("10s") == 10 && TimeArgument.step("1.5s") == nil && TimeArgument.step("0s") == nil)
        #expect(TimeArgument.defaultStep(since: 0, until: 600) == 60)
        #expect(TimeArgument.defaultStep(since: 0, until: 86400) == 900)
        #expect(TimeArgument.defaultStep(since: 0, until: 30 * 86400) == 6 * 3600)
    }
}

/// RFC 4180 records (quoted fields may hold commas, quotes and line breaks).
func parseCSV(_ text: String) -> [[String]] {
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var quoted = false
    var characters = Array(text).makeIterator()
    var pending: Character? = nil
    while let character = pending ?? characters.next() {
        pending = nil
        if quoted {
            if character == "\"" {
                let next = characters.next()
                if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
            } else {
                field.append(character)
            }
        } else if character == "\"" {
            quoted = true
        } else if character == "," {
            record.append(field)
            field = ""
        } else if character == "\r\n" || character == "\n" {
            record.append(field)
            records.append(record)
            (record, field) = ([], "")
        } else {
            field.append(character)
        }
    }
    return records
}

/// `lookout top --once`: one frame from fixed API answers, golden-tested.
@Suite struct TopViewTests {
    static let answers = (
        sources: #"[{"source":"relay","up":true,"reason":null},{"source":"redis://10.0.0.5:6379","up":false,"reason":"not connected"}]"#,
        alerts: #"""
            [{"alert":"LookoutConsumerDown","status":"firing","subject":"billing-worker-3","started_at":"2027-01-15T08:06:15.000Z",
              "labels":{"severity":"critical"}},
             {"alert":"LookoutChannelWithoutConsumers","status":"resolved","subject":"nobody","started_at":"2027-01-15T08:00:30.000Z",
              "labels":{"severity":"warning"}}]
            """#,
        consumers: #"""
            [{"consumer":"billing-worker-1","group":"billing","state":"up","state_since":"2027-01-15T08:00:00.000Z","heartbeats":true,
              "last_heartbeat":"2027-01-15T08:09:58.000Z","lag":47,"missed":0},
             {"consumer":"billing-worker-3","group":"billing","state":"down","state_since":"2027-01-15T08:06:15.000Z","heartbeats":true,
              "last_heartbeat":"2027-01-15T08:06:00.000Z","lag":null,"missed":14},
             {"consumer":"audit-tail","group":"","state":"lagging","state_since":"2027-01-15T08:09:00.000Z","heartbeats":false,
              "last_heartbeat":null,"lag":1200,"missed":0}]
            """#,
        channels: #"""
            [{"channel":"orders","messages_per_second":12.5,"bytes_per_second":4096,"subscribers":2,"unrouted":0,"latency_p99_seconds":0.0009},
             {"channel":"nobody","messages_per_second":0.3,"bytes_per_second":12,"subscribers":0,"unrouted":180,"latency_p99_seconds":null},
             {"channel":"a-very-long-channel-name-that-needs-cutting-to-fit-eighty-columns","messages_per_second":1,"bytes_per_second":1,
              "subscribers":1,"unrouted":0,"latency_p99_seconds":0.02}]
            """#)

    private func view(alerts: String? = answers.alerts) throws -> TopView {
        try TopView(sources: Data(Self.answers.sources.utf8), alerts: alerts.map { Data($0.utf8) },
                    consumers: Data(Self.answers.consumers.utf8), channels: Data(Self.answers.channels.utf8))
    }

    @Test func oneFrameMatchesItsGoldenFile() throws {
        let text = try view().render(url: "http://127.0.0.1:9480", style: ReportTests.style)
        try ReportTests.compare(text, withGolden: "top.txt")
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= 80 }, "fits 80 columns")
        #expect(!text.contains("\u{1B}"), "no colour unless asked (a TTY)")
        #expect(try view().render(url: "u", style: ReportTests.style, colour: true).contains("\u{1B}[31mdown\u{1B}[0m"))
    }

    @Test func anHAInstanceSaysWhoNotifies() throws {
        let status = NotificationStatus(group: "pair", instance: "b", notifies: false, holder: "a", fencingToken: 3)
        let frame = try TopView(sources: Data(Self.answers.sources.utf8), alerts: nil, consumers: Data("[]".utf8), channels: Data("[]".utf8),
                                notifications: Data(Reports.notifications(status).utf8)).render(url: "u", style: ReportTests.style)
        #expect(frame.split(separator: "\n")[2] == "notifications: sent by a (group pair, fencing token 3); this instance (b) stands by")
    }

    @Test func aShortTerminalAndAServerWithoutHistory() throws {
        let short = try view().render(url: "u", style: ReportTests.style, rows: 10)
        #expect(short.split(separator: "\n", omittingEmptySubsequences: false).count == 11, "ten lines and the final newline")
        #expect(short.hasSuffix("more lines (a taller terminal shows them)\n"))
        #expect(try view(alerts: nil).render(url: "u", style: ReportTests.style).contains("ALERTS: no history"))
        #expect(!(try view().render(url: "u", style: ReportTests.style).contains("notifications:")), "an instance on its own says nothing of it")
        #expect(throws: TopView.TopError.self) {
            try TopView(sources: Data("<html>".utf8), alerts: nil, consumers: Data("[]".utf8), channels: Data("[]".utf8))
        }
    }
}
