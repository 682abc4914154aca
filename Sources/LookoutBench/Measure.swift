import Foundation
import LookoutCore

#if canImport(Glibc)
import Glibc
#endif

/// Median and spread of repeated measurements.
struct Summary: Codable {
    var median: Double
    var min: Double
    var max: Double
    var p90: Double

    init(_ values: [Double]) {
        let sorted = values.sorted()
        median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        min = sorted.first ?? 0
        max = sorted.last ?? 0
        p90 = sorted.isEmpty ? 0 : sorted[Swift.min(sorted.count - 1, Int(Double(sorted.count) * 0.9))]
    }
}

/// Wall-clock and CPU seconds (this process, user + system) of `body`.
func measure(_ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
    let wallStart = monotonicSeconds()
    let cpuStart = processCPUSeconds()
    try body()
    return (monotonicSeconds() - wallStart, processCPUSeconds() - cpuStart)
}

func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
