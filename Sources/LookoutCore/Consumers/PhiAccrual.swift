import Foundation

/// The φ-accrual failure detector (Hayashibara et al., 2004), with Akka's defaults: it learns the
/// distribution of a consumer's heartbeat intervals and answers how suspicious a silence is
/// (φ = −log10 of the probability that a heartbeat still comes). φ ≥ 8 means about one
/// chance in 10⁸ of being wrong. Suits consumers whose heartbeats are jittery.
public struct PhiAccrual: Sendable, Hashable {
    /// Settings; the defaults are Akka's.
    public struct Configuration: Sendable, Hashable {
        public var threshold: Double = 8
        public var maxSamples = 1000
        /// Floor for the standard deviation, so regular heartbeats do not make φ explode.
        public var minStandardDeviation: Double = 0.1
        /// Extra silence tolerated on top of the learned mean (GC pauses, network blips).
        public var acceptablePause: Double = 0

        public init() {}
    }

    public let configuration: Configuration
    private var intervals: [Double] = []
    private var next = 0
    private var sum = 0.0
    private var sumOfSquares = 0.0

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Number of intervals learned.
    public var sampleCount: Int { intervals.count }

    /// Learns one interval between heartbeats, in seconds.
    public mutating func record(_ interval: Double) {
        if intervals.count < configuration.maxSamples {
            intervals.append(interval)
        } else {
            let old = intervals[next]
            sum -= old
            sumOfSquares -= old * old
            intervals[next] = interval
            next = (next + 1) % configuration.maxSamples
        }
        sum += interval
        sumOfSquares += interval * interval
    }

    /// φ for `elapsed` seconds since the last heartbeat; 0 before any interval is known.
    public func phi(elapsed: Double) -> Double {
        guard let (mean, deviation) = distribution else { return 0 }
        // Logistic approximation of the normal CDF, as Akka computes it.
        let y = (elapsed - mean) / deviation
        let exponent = y * (1.5976 + 0.070566 * y * y)
        let e = exp(-exponent)
        if elapsed > mean {
            // −log10(e / (1 + e)) taken apart, so a long silence (e under the smallest Double)
            // gives a large φ, not infinity.
            return exponent / log(10) + log10(1 + e)
        }
        return -log10(1 - 1 / (1 + e))
    }

    /// The silence, in seconds, at which φ reaches the threshold (infinity before any interval
    /// is known): the mean plus a number of deviations that depends on the threshold alone.
    public var suspicionBegins: Double {
        guard let (mean, deviation) = distribution else { return .infinity }
        return mean + Self.deviations(reaching: configuration.threshold) * deviation
    }

    /// The y at which the logistic approximation gives φ = `threshold`. Both of ``phi(elapsed:)``'s
    /// forms are −log10(e / (1 + e)), so e = 10^−t / (1 − 10^−t), and y solves the cubic
    /// 0.070566 y³ + 1.5976 y = −ln e, which has one real root (Cardano).
    static func deviations(reaching threshold: Double) -> Double {
        guard threshold > 0 else { return -.infinity }
        let tail = pow(10, -threshold)
        let target = -log(tail / (1 - tail))
        let (p, q) = (1.5976 / 0.070566, -target / 0.070566)
        let root = (q * q / 4 + p * p * p / 27).squareRoot()
        return cbrt(-q / 2 + root) + cbrt(-q / 2 - root)
    }

    /// The learned mean (with the acceptable pause) and standard deviation (with its floor).
    private var distribution: (mean: Double, deviation: Double)? {
        guard !intervals.isEmpty else { return nil }
        let count = Double(intervals.count)
        let mean = sum / count + configuration.acceptablePause
        let variance = max(0, sumOfSquares / count - (sum / count) * (sum / count))
        return (mean, max(variance.squareRoot(), configuration.minStandardDeviation))
    }

    /// Whether `elapsed` seconds of silence are past the threshold.
    public func isSuspected(elapsed: Double) -> Bool {
        phi(elapsed: elapsed) >= configuration.threshold
    }
}
