import NIOCore
import Testing

@testable import Monitor

/// The per-channel series as `/metrics` renders them: counters, gauges, and a cumulative
/// histogram whose +Inf bucket is its count.
@Suite struct ChannelSeriesTableTests {
    @Test func oneChannelRendersItsFamiliesAndACumulativeHistogram() {
        let table = ChannelSeriesTable(latencyBuckets: [0.001, 0.01, 0.1])
        let series = table.series(for: "orders")
        series.messages.increment(by: 3)
        series.bytes.increment(by: 30)
        series.subscribers.set(2)
        series.patternSubscribers.set(1)
        for seconds in [0.0005, 0.005, 0.005, 5] { series.latency.record(seconds) }
        #expect(table.series(for: "orders").messages === series.messages, "one series per label")
        var out = ByteBuffer()
        table.render(into: &out)
        let text = String(buffer: out)
        for line in [
            "# TYPE lookout_channel_messages_total counter", #"lookout_channel_messages_total{channel="orders"} 3"#,
            #"lookout_channel_bytes_total{channel="orders"} 30"#, #"lookout_channel_unrouted_messages_total{channel="orders"} 0"#,
            "# TYPE lookout_channel_subscribers gauge", #"lookout_channel_subscribers{channel="orders"} 2"#,
            #"lookout_channel_pattern_subscribers{channel="orders"} 1"#, #"lookout_channel_consumption_unknown{channel="orders"} 0"#,
            "# TYPE lookout_channel_delivery_latency_seconds histogram",
            #"lookout_channel_delivery_latency_seconds_bucket{channel="orders",le="0.001"} 1"#,
            #"lookout_channel_delivery_latency_seconds_bucket{channel="orders",le="0.01"} 3"#,
            #"lookout_channel_delivery_latency_seconds_bucket{channel="orders",le="0.1"} 3"#,
            #"lookout_channel_delivery_latency_seconds_bucket{channel="orders",le="+Inf"} 4"#,
            #"lookout_channel_delivery_latency_seconds_sum{channel="orders"} 5.0105"#,
            #"lookout_channel_delivery_latency_seconds_count{channel="orders"} 4"#,
        ] {
            #expect(text.contains(line + "\n"), "\(line)")
        }
        #expect(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.count == 6 + 3 + 1 + 2)
    }

    @Test func aLatencySampleCountsForEveryDeliveryItStandsFor() {
        let table = ChannelSeriesTable(latencyBuckets: [0.001, 0.01])
        table.series(for: "runs").latency.record(0.002, count: 40)
        table.series(for: "runs").latency.record(0.0005)
        var out = ByteBuffer()
        table.render(into: &out)
        let text = String(buffer: out)
        for line in [
            #"lookout_channel_delivery_latency_seconds_bucket{channel="runs",le="0.001"} 1"#,
            #"lookout_channel_delivery_latency_seconds_bucket{channel="runs",le="0.01"} 41"#,
            #"lookout_channel_delivery_latency_seconds_sum{channel="runs"} 0.0805"#,
            #"lookout_channel_delivery_latency_seconds_count{channel="runs"} 41"#,
        ] {
            #expect(text.contains(line + "\n"), "\(line)")
        }
    }

    @Test func aChannelWithoutDeliveriesHasNoLatencyHistogramUntilItsFirst() {
        let table = ChannelSeriesTable(latencyBuckets: [0.001, 0.01])
        table.series(for: "quiet").messages.increment()
        var out = ByteBuffer()
        table.render(into: &out)
        var text = String(buffer: out)
        #expect(text.contains(#"lookout_channel_messages_total{channel="quiet"} 1"#))
        #expect(!text.contains(#"lookout_channel_delivery_latency_seconds_bucket{channel="quiet""#))
        #expect(!text.contains(#"lookout_channel_delivery_latency_seconds_count{channel="quiet"}"#))

        table.series(for: "quiet").latency.record(0.005)
        out = ByteBuffer()
        table.render(into: &out)
        text = String(buffer: out)
        #expect(text.contains(#"lookout_channel_delivery_latency_seconds_bucket{channel="quiet",le="0.001"} 0"# + "\n"))
        #expect(text.contains(#"lookout_channel_delivery_latency_seconds_bucket{channel="quiet",le="+Inf"} 1"# + "\n"))
        #expect(text.contains(#"lookout_channel_delivery_latency_seconds_count{channel="quiet"} 1"# + "\n"))
    }

    @Test func channelLabelsAreEscaped() {
        let table = ChannelSeriesTable(latencyBuckets: [1])
        table.series(for: "a\"b\\c\nd").messages.increment()
        var out = ByteBuffer()
        table.render(into: &out)
        #expect(String(buffer: out).contains(#"lookout_channel_messages_total{channel="a\"b\\c\nd"} 1"#))
    }

    @Test func nothingIsRenderedBeforeTheFirstChannel() {
        var out = ByteBuffer()
        ChannelSeriesTable(latencyBuckets: [1]).render(into: &out)
        #expect(out.readableBytes == 0)
    }
}
