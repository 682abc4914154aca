/// Glob matching with Redis's semantics, used for PSUBSCRIBE patterns, PUBSUB CHANNELS filters
/// and the monitor's channel-grouping rules.
///
/// `*` matches any run of bytes (but, as in Redis, not the empty subject), `?` any one byte, `[abc]`, `[^abc]` and `[a-z]` a class (a
/// reversed range is accepted, an unterminated class runs to the end of the pattern), and `\x`
/// matches `x` literally. Bytes are compared as signed chars, as Redis's C code does, so ranges
/// that span 0x80 behave identically. Recursion on `*` is capped so that an abusive pattern costs
/// bounded time, and a `*` that fails at one position stops the search when the rest of the
/// pattern cannot match any later suffix either.
public enum GlobPattern {
    /// Deepest `*` nesting explored before a match is given up.
    public static let maxNesting = 1000

    /// Whether `subject` matches `pattern`.
    public static func matches(pattern: UnsafeRawBufferPointer, subject: UnsafeRawBufferPointer) -> Bool {
        var exhausted = false
        return match(pattern, 0, subject, 0, nesting: 0, exhausted: &exhausted)
    }

    /// Whether `subject` matches `pattern`, for any contiguous byte collections.
    public static func matches<P: Collection<UInt8>, S: Collection<UInt8>>(pattern: P, subject: S) -> Bool {
        let p = pattern.withContiguousStorageIfAvailable { p in
            subject.withContiguousStorageIfAvailable { s in
                matches(pattern: UnsafeRawBufferPointer(p), subject: UnsafeRawBufferPointer(s))
            }
        }
        if let p, let result = p { return result }
        let pa = Array(pattern), sa = Array(subject)
        return pa.withUnsafeBytes { p in sa.withUnsafeBytes { s in matches(pattern: p, subject: s) } }
    }

    /// Whether `subject` matches `pattern`, comparing their UTF-8 bytes.
    public static func matches(pattern: String, subject: String) -> Bool {
        matches(pattern: Array(pattern.utf8), subject: Array(subject.utf8))
    }

    /// A pattern that matches `literal` and nothing else (`*`, `?`, `[`, `]` and `\` escaped).
    public static func escaped(_ literal: String) -> String {
        var pattern = ""
        for character in literal {
            if "*?[]\\".contains(character) { pattern.append("\\") }
            pattern.append(character)
        }
        return pattern
    }

    /// Why `pattern` is not a glob a user means, or nil: empty, a `[` class never closed, or a
    /// trailing `\` (Redis accepts both and matches them oddly; a setting takes them as typos).
    public static func problem(in pattern: String) -> String? {
        if pattern.isEmpty { return "an empty pattern matches no channel" }
        var escaped = false
        var inClass = false
        for character in pattern {
            if escaped {
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if inClass {
                if character == "]" { inClass = false }
            } else if character == "[" {
                inClass = true
            }
        }
        if escaped { return "'\(pattern)' ends with a lone \\" }
        if inClass { return "'\(pattern)' opens a [ class it never closes" }
        return nil
    }

    /// `exhausted` is set when a `*` has tried every remaining suffix of the subject without
    /// success: every enclosing `*` would only try shorter suffixes, so they can stop too.
    private static func match(
        _ pattern: UnsafeRawBufferPointer, _ startP: Int,
        _ subject: UnsafeRawBufferPointer, _ startS: Int,
        nesting: Int, exhausted: inout Bool
    ) -> Bool {
        if nesting > maxNesting {
            exhausted = true  // give up on the whole match, not just this branch
            return false
        }
        var p = startP, s = startS
        let pEnd = pattern.count, sEnd = subject.count
        while p < pEnd && s < sEnd {
            switch pattern[p] {
            case UInt8(ascii: "*"):
                while p + 1 < pEnd && pattern[p + 1] == UInt8(ascii: "*") { p += 1 }
                if p + 1 == pEnd { return true }
                while s < sEnd {
                    if match(pattern, p + 1, subject, s, nesting: nesting + 1, exhausted: &exhausted) { return true }
                    if exhausted { return false }
                    s += 1
                }
                exhausted = true
                return false
            case UInt8(ascii: "?"):
                s += 1
            case UInt8(ascii: "["):
                p += 1
                let negated = p < pEnd && pattern[p] == UInt8(ascii: "^")
                if negated { p += 1 }
                let c = Int8(bitPattern: subject[s])
                var matched = false
                while true {
                    if p < pEnd && pattern[p] == UInt8(ascii: "\\") && pEnd - p >= 2 {
                        p += 1
                        if pattern[p] == subject[s] { matched = true }
                    } else if p < pEnd && pattern[p] == UInt8(ascii: "]") {
                        break
                    } else if p >= pEnd {
                        p -= 1  // unterminated class: stand on its last byte so the step below ends the pattern
                        break
                    } else if pEnd - p >= 3 && pattern[p + 1] == UInt8(ascii: "-") {
                        var low = Int8(bitPattern: pattern[p]), high = Int8(bitPattern: pattern[p + 2])
                        if low > high { swap(&low, &high) }
                        if c >= low && c <= high { matched = true }
                        p += 2
                    } else if pattern[p] == subject[s] {
                        matched = true
                    }
                    p += 1
                }
                if negated { matched.toggle() }
                if !matched { return false }
                s += 1
            case UInt8(ascii: "\\"):
                if pEnd - p >= 2 { p += 1 }
                if pattern[p] != subject[s] { return false }
                s += 1
            default:
                if pattern[p] != subject[s] { return false }
                s += 1
            }
            p += 1
            if s == sEnd {
                while p < pEnd && pattern[p] == UInt8(ascii: "*") { p += 1 }
                break
            }
        }
        return p == pEnd && s == sEnd
    }
}
