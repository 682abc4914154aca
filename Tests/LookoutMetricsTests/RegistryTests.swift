import Prometheus
import Testing

@testable import LookoutMetrics

/// Lookout's one way of making series: the full name, labels and help, as the README lists them.
@Suite struct RegistryTests {
    @Test func seriesKeepTheirFullNameLabelsAndHelp() {
        let registry = PrometheusCollectorRegistry()
        registry.counter("lookout_things_total", labels: [("kind", "a")], help: "Things seen.").increment(by: Int64(2))
        registry.gauge("lookout_level", help: "A level.").set(Int64(7))
        registry.histogram("lookout_wait_seconds", buckets: [0.5, 1], help: "Waits.").record(0.75)
        registry.histogram("lookout_flush_seconds", buckets: [Duration.milliseconds(10)], help: "Flushes.").record(.milliseconds(5))
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        for line in [
            "# HELP lookout_things_total Things seen.", "# TYPE lookout_things_total counter", #"lookout_things_total{kind="a"} 2"#,
            "# HELP lookout_level A level.", "lookout_level 7.0",
            #"lookout_wait_seconds_bucket{le="0.5"} 0"#, #"lookout_wait_seconds_bucket{le="1.0"} 1"#, "lookout_wait_seconds_count 1",
            #"lookout_flush_seconds_bucket{le="0.01"} 1"#,
        ] {
            #expect(text.contains(line + "\n"), "\(line) in:\n\(text)")
        }
    }
}
