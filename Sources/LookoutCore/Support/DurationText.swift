/// Durations as people type them: `500ms`, `5s`, `15m`, `24h`, `7d`.
public enum DurationText {
    /// Parses `text`; nil when it is not a positive duration.
    public static func parse(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)), number > 0, number.isFinite else { return nil }
            return .milliseconds(Int64((number * seconds * 1000).rounded()))
        }
        return nil
    }

    /// The same, in seconds.
    public static func seconds(_ text: String) -> Double? {
        parse(text)?.seconds
    }
}
