/// Durations as people type them: `500ms`, `5s`, `15m`, `24h`, `7d`.
public enum DurationText {
    /// Parses `text`; nil when it is not a positive duration that fits in Int64 milliseconds.
    public static func parse(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            // Beyond Int64 milliseconds (about 292 million years) is not a duration either.
            guard let number = Double(text.dropLast(suffix.count)), number > 0, number * seconds * 1000 < 9.2e18 else { return nil }
            return .milliseconds(Int64((number * seconds * 1000).rounded()))
        }
        return nil
    }

    /// The same, in seconds.
    public static func seconds(_ text: String) -> Double? {
        parse(text)?.seconds
    }

    /// `seconds` as `parse` reads it back exactly, in the largest unit that writes it whole:
    /// `90s`, `2m`, `30d`, `1500ms` (milliseconds are the finest unit).
    public static func text(seconds: Double) -> String {
        guard abs(seconds * 1000) < 9.2e18 else { return "\(seconds)s" }
        let milliseconds = Int64((seconds * 1000).rounded())
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }
}
