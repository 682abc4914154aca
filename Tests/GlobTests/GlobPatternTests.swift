import Testing

@testable import Glob

@Suite struct GlobPatternTests {
    @Test(arguments: [
        ("*", "", false) /* Redis: PSUBSCRIBE * does not receive the empty channel */, ("*", "anything", true), ("", "", true), ("", "a", false), ("a", "", false),
        ("h?llo", "hello", true), ("h?llo", "hllo", false),
        ("h*llo", "hllo", true), ("h*llo", "heeeello", true), ("h*llo", "hellox", false),
        ("h[ae]llo", "hello", true), ("h[ae]llo", "hallo", true), ("h[ae]llo", "hillo", false),
        ("h[^e]llo", "hallo", true), ("h[^e]llo", "hello", false),
        ("h[a-b]llo", "hbllo", true), ("h[a-b]llo", "hcllo", false),
        ("h[b-a]llo", "hallo", true),  // reversed range
        ("h\\*llo", "h*llo", true), ("h\\*llo", "hello", false),
        ("[\\]]", "]", true), ("[\\-]", "-", true),
        ("orders.*", "orders.created", true), ("orders.*", "orders", false),
        ("*.created", "orders.created", true), ("a*b*c", "aXXbYYc", true), ("a*b*c", "aXXbYY", false),
        ("a**", "a", true), ("**a", "ba", true), ("*?", "", false), ("*?", "x", true),
        ("[a", "a", true), ("[a", "b", false), ("[", "[", false), ("ab[", "ab", false),
        ("[abc", "c", true), ("\\", "\\", true), ("a\\", "a\\", true),
        ("user:*:events", "user:42:events", true), ("user:*:events", "user:42:event", false),
        ("[^a-z]", "A", true), ("[^a-z]", "q", false),
    ])
    func matchesLikeRedis(pattern: String, subject: String, expected: Bool) {
        #expect(GlobPattern.matches(pattern: pattern, subject: subject) == expected, "\(pattern) ~ \(subject)")
    }

    @Test(arguments: ["lookout:probe", "a*b?c[d]e\\f", "", "[[]]", "\\\\"])
    func anEscapedLiteralMatchesItselfOnly(literal: String) {
        let pattern = GlobPattern.escaped(literal)
        #expect(GlobPattern.matches(pattern: pattern, subject: literal) || literal.isEmpty)
        #expect(!GlobPattern.matches(pattern: pattern, subject: literal + "x"))
        #expect(!GlobPattern.matches(pattern: pattern, subject: "x" + literal))
        #expect(GlobPattern.problem(in: pattern) == nil || literal.isEmpty)
    }

    @Test func problemsAreTheTyposRedisWouldAccept() {
        #expect(GlobPattern.problem(in: "orders.*") == nil)
        #expect(GlobPattern.problem(in: "a[\\]]b") == nil, "an escaped ] inside a class")
        #expect(GlobPattern.problem(in: "x\\[") == nil, "an escaped [")
        #expect(GlobPattern.problem(in: "") != nil)
        #expect(GlobPattern.problem(in: "a[bc") != nil)
        #expect(GlobPattern.problem(in: "ab\\") != nil)
    }

    @Test func rangesCompareBytesAsSignedChars() {
        // In Redis the class [\x01-\xff] is the signed range -1...1: it holds 0xff, 0x00 and 0x01 only.
        let pattern: [UInt8] = [UInt8(ascii: "["), 0x01, UInt8(ascii: "-"), 0xFF, UInt8(ascii: "]")]
        #expect(GlobPattern.matches(pattern: pattern, subject: [0x01]))
        #expect(GlobPattern.matches(pattern: pattern, subject: [0xFF]))
        #expect(GlobPattern.matches(pattern: pattern, subject: [0x00]))
        #expect(!GlobPattern.matches(pattern: pattern, subject: [0x90]))
        #expect(!GlobPattern.matches(pattern: pattern, subject: [0x41]))
    }

    @Test func abusivePatternsFinish() {
        let pattern = String(repeating: "a*", count: 40) + "b"
        let subject = String(repeating: "a", count: 4000)
        #expect(!GlobPattern.matches(pattern: pattern, subject: subject))
        let deep = String(repeating: "*x", count: 2000)
        #expect(!GlobPattern.matches(pattern: deep, subject: String(repeating: "x", count: 1999)))
    }
}
