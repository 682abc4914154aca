import Foundation
import LookoutCore

/// Numbers, sizes, durations and times the way the tables print them.
enum ReadableFormat {
    static func count(_ value: UInt64) -> String {
        value < 100_000 ? "\(value)" : scaled(Double(value), units: ["", "k", "M", "G", "T"], base: 1000)
    }

    static func rate(_ value: Double) -> String {
        if value == 0 { return "0" }
        if value < 10 { return String(format: "%.1f", value) }
        return value < 100_000 ? "\(Int(value.rounded()))" : scaled(value, units: ["", "k", "M", "G"], base: 1000)
    }

    static func bytes(_ value: UInt64) -> String {
        value < 1024 ? "\(value) B" : scaled(Double(value), units: [" B", " KiB", " MiB", " GiB", " TiB"], base: 1024)
    }

    static func latency(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        if seconds < 0.001 { return "\(Int((seconds * 1e6).rounded()))µs" }
        if seconds < 1 { return String(format: "%.1fms", seconds * 1000) }
        return String(format: "%.2fs", seconds)
    }

    /// `0.5s`, `45s`, `5m`, `1h30m`, `2d3h`.
    static func duration(_ seconds: Double) -> String {
        if seconds < 10 && seconds != seconds.rounded() { return String(format: "%.1fs", max(0, seconds)) }
        let total = Int(seconds.rounded())
        if total < 60 { return "\(max(0, total))s" }
        if total < 3600 { return total % 60 == 0 ? "\(total / 60)m" : "\(total / 60)m\(total % 60)s" }
        if total < 86400 { return total % 3600 / 60 == 0 ? "\(total / 3600)h" : "\(total / 3600)h\(total % 3600 / 60)m" }
        return total % 86400 / 3600 == 0 ? "\(total / 86400)d" : "\(total / 86400)d\(total % 86400 / 3600)h"
    }

    static func age(_ seconds: Double) -> String {
        seconds < 1 ? "now" : duration(seconds) + " ago"
    }

    /// `11-26 20:07:39` in the style's time zone.
    static func time(_ seconds: Double, _ style: ReportStyle) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = style.timeZone
        let parts = calendar.dateComponents([.month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: seconds.rounded(.down)))
        return String(format: "%02d-%02d %02d:%02d:%02d", parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0)
    }

    /// RFC 3339 in UTC with milliseconds: `2026-11-26T20:07:39.000Z`.
    static func rfc3339(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// Latency in seconds to a tenth of a microsecond (the digest is good to 5% anyway).
    static func latencySeconds(_ value: Double) -> Double {
        (value * 1e7).rounded() / 1e7
    }

    static func rounded(_ value: Double) -> Double {
        (value * 1000).rounded() / 1000
    }

    private static func scaled(_ value: Double, units: [String], base: Double) -> String {
        var value = value
        var unit = 0
        while value >= base && unit < units.count - 1 {
            value /= base
            unit += 1
        }
        return String(format: value < 10 ? "%.2f" : (value < 100 ? "%.1f" : "%.0f"), value) + units[unit]
    }
}

/// `--since` and `--until`: a duration back from now (`15m`, `24h`, `7d`), `now`, or an RFC 3339
/// time (`2026-11-26T20:00:00Z`, `2026-11-26T21:00:00+01:00`).
public enum TimeArgument {
    public static func parse(_ text: String, now: Double) -> Double? {
        if text == "now" { return now }
        if let seconds = DurationText.seconds(text) { return now - seconds }
        for style in [Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle()] {
            if let date = try? style.parse(text) { return date.timeIntervalSince1970 }
        }
        return nil
    }

    /// A `--step`: a positive duration of whole seconds.
    public static func step(_ text: String) -> Int64? {
        guard let seconds = DurationText.seconds(text), seconds >= 1, seconds == seconds.rounded() else { return nil }
        return Int64(seconds)
    }

    /// The step `history` uses when none is given: 1 minute, or coarser so that at most 120 rows print.
    public static func defaultStep(since: Double, until: Double) -> Int64 {
        let steps: [Int64] = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400]
        let span = max(0, until - since)
        return steps.first { span / Double($0) <= 120 } ?? 86400
    }
}
