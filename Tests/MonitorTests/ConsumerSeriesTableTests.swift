import LookoutCore
import NIOCore
import Testing

@testable import Monitor

/// The per-consumer series as `/metrics` renders them: exact text, escaping, and which consumers
/// each selection shows.
@Suite struct ConsumerSeriesTableTests {
    private func text(_ table: ConsumerSeriesTable) -> String {
        var out = ByteBuffer()
        table.render(into: &out)
        return String(buffer: out)
    }

    @Test func oneConsumerRendersEveryFamilyOnce() {
        let table = ConsumerSeriesTable(selection: .all)
        table.update(consumer: "billing-1", group: "billing") { row in
            row.state = .late
            row.lastHeartbeat = 1_800_000_000.5
            row.processed = 12
            row.missed = 3
        }
        let rendered = text(table)
        #expect(rendered.contains("# TYPE lookout_consumer_up gauge\nlookout_consumer_up{consumer=\"billing-1\",group=\"billing\"} 1\n"))
        #expect(rendered.contains("lookout_consumer_state{consumer=\"billing-1\",group=\"billing\",state=\"late\"} 1\n"))
        #expect(rendered.contains("lookout_consumer_state{consumer=\"billing-1\",group=\"billing\",state=\"up\"} 0\n"))
        #expect(rendered.contains("# TYPE lookout_consumer_processed_total counter\nlookout_consumer_processed_total{consumer=\"billing-1\",group=\"billing\"} 12\n"))
        #expect(rendered.contains("lookout_consumer_missed_messages_total{consumer=\"billing-1\",group=\"billing\"} 3\n"))
        #expect(rendered.contains("lookout_consumer_last_heartbeat_timestamp_seconds{consumer=\"billing-1\",group=\"billing\"} 1800000000.5\n"))
        let samples = rendered.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(samples.count == 10 + ConsumerStateMachine.State.allCases.count, "ten families and one state line per state")
        #expect(rendered.split(separator: "\n").filter { $0.hasPrefix("# TYPE") }.count == 11)
    }

    @Test func labelValuesAreEscaped() {
        let table = ConsumerSeriesTable(selection: .all)
        table.update(consumer: "odd \"name\"\\\n", group: "") { $0.state = .down }
        #expect(text(table).contains(#"lookout_consumer_up{consumer="odd \"name\"\\\n",group=""} 0"#))
    }

    @Test func selectionsShowWhatTheySay() {
        func table(_ selection: ConsumerSeriesTable.Selection, consumers: Int) -> ConsumerSeriesTable {
            let table = ConsumerSeriesTable(selection: selection)
            for index in 0..<consumers { table.update(consumer: "c\(index)", group: "g") { $0.state = index == 0 ? .down : .up } }
            return table
        }
        func shown(_ table: ConsumerSeriesTable) -> Int { text(table).split(separator: "\n").filter { $0.hasPrefix("lookout_consumer_up{") }.count }
        #expect(shown(table(.all, consumers: 1_200)) == 1_200)
        #expect(shown(table(.unhealthy, consumers: 10)) == 1)
        #expect(shown(table(.none, consumers: 10)) == 0)
        #expect(text(table(.none, consumers: 10)).isEmpty, "not even HELP lines")
        #expect(shown(table(.auto, consumers: ConsumerSeriesTable.autoLimit)) == ConsumerSeriesTable.autoLimit)
        #expect(shown(table(.auto, consumers: ConsumerSeriesTable.autoLimit + 1)) == 1, "past the limit, only those not up")
    }

    @Test func outputBuffersFollowTheirConsumer() {
        let table = ConsumerSeriesTable(selection: .all)
        table.update(consumer: "mailer", group: "") { _ in }
        table.update(consumer: "other", group: "") { $0.outputBuffer = 9 }
        table.setOutputBuffers(["mailer": 4096])
        #expect(table.row(consumer: "mailer", group: "")?.outputBuffer == 4096)
        #expect(table.row(consumer: "other", group: "")?.outputBuffer == 0, "gone from CLIENT LIST: nothing pending")
    }

    @Test func numbersAreWrittenAsTheTextFormatReadsThem() {
        var start = ByteBuffer(string: "x\n")
        var writer = ExpositionWriter(taking: &start)
        let (a, b, c, labels, extra) = (Array("a".utf8), Array("b".utf8), Array("c".utf8), Array(#"k="v""#.utf8), Array(#"le="+Inf""#.utf8))
        // Each sample in a region of exactly its maximum length: the longest values fit.
        for value: Int64 in [0, 7, -42, .min] {
            writer.samples(maximum: ExpositionWriter.maximumLength(a, rows: 1, labelBytes: labels.count)) { samples in
                samples.begin(a, labels)
                samples.end(value)
            }
        }
        writer.samples(maximum: ExpositionWriter.maximumLength(b, rows: 1, labelBytes: 0, extras: [extra])) { samples in
            samples.begin(b, [], extra)
            samples.end(UInt64.max)
        }
        for value in [0.25, -Double.greatestFiniteMagnitude, -Double.leastNonzeroMagnitude] {
            writer.samples(maximum: ExpositionWriter.maximumLength(c, rows: 1, labelBytes: 0)) { samples in
                samples.begin(c, [])
                samples.end(value)
            }
        }
        #expect(String(buffer: writer.buffer) == """
            x
            a{k="v"} 0
            a{k="v"} 7
            a{k="v"} -42
            a{k="v"} -9223372036854775808
            b{le="+Inf"} 18446744073709551615
            c{} 0.25
            c{} -1.7976931348623157e+308
            c{} -5e-324

            """)
    }
}
