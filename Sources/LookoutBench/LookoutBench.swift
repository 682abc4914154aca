import ArgumentParser
import Foundation

/// `lookout-bench`: Lookout's benchmarks, run by `make bench` in release mode. Each suite prints a
/// table and adds its figures to a JSON report for comparing runs.
@main
struct LookoutBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookout-bench",
        abstract: "Benchmarks: the store's writer and queries.")

    @Flag(help: "Fewer rounds (a smoke run).")
    var quick = false

    @Option(help: "Write the results as JSON here.")
    var json: String?

    func run() throws {
        var report: [String: Any] = ["machine": machineDescription(), "quick": quick, "date": ISO8601DateFormatter().string(from: Date())]
        print("== store: 1,000 channels × 1 s buckets, and 30-day history on a month-old database")
        let store = try StoreBenchmark.run(quick: quick)
        print(String(format: "flush of 1,000 channel buckets: median %.2f ms (min %.2f, p90 %.2f, max %.2f), CPU %.2f ms per flush",
                     store.flushMilliseconds.median, store.flushMilliseconds.min, store.flushMilliseconds.p90, store.flushMilliseconds.max,
                     store.cpuMillisecondsPerFlush))
        for (name, summary) in store.historyMilliseconds.sorted(by: { $0.key > $1.key }) {
            print(String(format: "history %@ (one channel of 50, %d minute rows): median %.2f ms (min %.2f, max %.2f)",
                         name, store.minuteRows, summary.median, summary.min, summary.max))
        }
        print("database: \(store.databaseBytes / 1_048_576) MiB")
        report["store"] = [
            "flush_1000_channels_ms": summaryObject(store.flushMilliseconds),
            "flush_cpu_ms": store.cpuMillisecondsPerFlush,
            "history_30d_ms": store.historyMilliseconds.mapValues(summaryObject),
            "database_bytes": store.databaseBytes,
        ]
        if let json {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
            print("results written to \(json)")
        }
    }
}

func summaryObject(_ summary: Summary) -> [String: Double] {
    ["median": summary.median, "min": summary.min, "max": summary.max, "p90": summary.p90]
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
