import Foundation

/// Delivery latencies of one channel over one bucket, in log-spaced bins (each 10% wider than
/// the one before, from 1 µs to 100 s), so that quantiles come out within 5% with a fixed 200
/// counters and no per-sample storage. The maximum is exact. Pure; what the store records.
public struct LatencyDigest: Sendable, Hashable {
    static let smallest = 1e-6
    static let growth = 1.1
    static let binCount = 200
    private static let logGrowth = log(growth)

    private var bins: [UInt32] = []
    public private(set) var count: UInt64 = 0
    public private(set) var maximum: Double = 0

    public init() {}

    public mutating func record(_ seconds: Double, count deliveries: Int = 1) {
        if bins.isEmpty { bins = Array(repeating: 0, count: Self.binCount) }
        bins[Self.bin(for: seconds)] &+= UInt32(truncatingIfNeeded: deliveries)
        count += UInt64(deliveries)
        maximum = max(maximum, seconds)
    }

    /// The value at quantile `q` (0...1): the geometric middle of the bin holding it, capped by
    /// the exact maximum; nil without samples.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = max(1, UInt64((q * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        // A plain index loop: `enumerated()` costs generic metadata lookups per bin in debug
        // builds, which made the store's tests slow.
        for index in bins.indices {
            seen += UInt64(bins[index])
            if seen >= rank { return min(Self.middle(of: index), maximum) }
        }
        return maximum
    }

    static func bin(for seconds: Double) -> Int {
        guard seconds > smallest else { return 0 }
        return min(binCount - 1, Int(log(seconds / smallest) / logGrowth) + 1)
    }

    static func middle(of bin: Int) -> Double {
        guard bin > 0 else { return smallest }
        return smallest * pow(growth, Double(bin) - 0.5)
    }
}
