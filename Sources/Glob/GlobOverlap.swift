extension GlobPattern {
    /// Whether some subject matches both patterns: the two are read as sequences of `*` and
    /// one-byte classes (each class's bytes found with ``matches(pattern:subject:)`` itself, so
    /// Redis's rules for `[...]`, `?` and `\` hold), and their product is searched for a way to
    /// reach both ends together. Used to refuse configuration entries that would claim the same
    /// channel.
    public static func overlaps(_ first: String, _ second: String) -> Bool {
        let a = tokens(Array(first.utf8)), b = tokens(Array(second.utf8))
        var visited = Set<Int>()
        func reachable(_ i: Int, _ j: Int) -> Bool {
            guard visited.insert(i * (b.count + 1) + j).inserted else { return false }
            if i == a.count && j == b.count { return true }
            if i < a.count, a[i] == nil {
                // `*` matches nothing more, or also what b's next byte matches.
                if reachable(i + 1, j) { return true }
                if j < b.count, b[j] != nil, reachable(i, j + 1) { return true }
            }
            if j < b.count, b[j] == nil {
                if reachable(i, j + 1) { return true }
                if i < a.count, a[i] != nil, reachable(i + 1, j) { return true }
            }
            if i < a.count, j < b.count, let left = a[i], let right = b[j], left.intersects(right) {
                return reachable(i + 1, j + 1)
            }
            return false
        }
        return reachable(0, 0)
    }

    /// The pattern as `nil` for `*` and, for every other element, the set of bytes it matches.
    private static func tokens(_ pattern: [UInt8]) -> [ByteSet?] {
        var tokens: [ByteSet?] = []
        var index = 0
        while index < pattern.count {
            let start = index
            switch pattern[index] {
            case UInt8(ascii: "*"):
                index += 1
                if tokens.last != .some(nil) { tokens.append(nil) }
                continue
            case UInt8(ascii: "\\") where index + 1 < pattern.count:
                index += 2
            case UInt8(ascii: "["):
                index += 1
                if index < pattern.count, pattern[index] == UInt8(ascii: "^") { index += 1 }
                while index < pattern.count, pattern[index] != UInt8(ascii: "]") {
                    index += pattern[index] == UInt8(ascii: "\\") && index + 1 < pattern.count ? 2 : 1
                }
                index = min(index + 1, pattern.count)
            default:
                index += 1
            }
            let element = Array(pattern[start..<index])
            var set = ByteSet()
            for byte in 0...255 where matches(pattern: element, subject: [UInt8(byte)]) { set.insert(UInt8(byte)) }
            tokens.append(set)
        }
        return tokens
    }
}

/// A set of bytes as a 256-bit map.
private struct ByteSet: Hashable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    mutating func insert(_ byte: UInt8) {
        let bit = UInt64(1) << (byte & 63)
        switch byte >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    func intersects(_ other: ByteSet) -> Bool {
        words.0 & other.words.0 != 0 || words.1 & other.words.1 != 0 || words.2 & other.words.2 != 0 || words.3 & other.words.3 != 0
    }

    static func == (lhs: ByteSet, rhs: ByteSet) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
