/// One line of Redis's `CLIENT LIST` output: `key=value` fields separated by spaces.
///
/// Parsing is tolerant: unknown fields are kept but not required, a field without `=` is
/// skipped, and values may be empty (`name=`). Redis never puts spaces in values.
public struct ClientListEntry: Sendable, Hashable {
    public var fields: [String: String]

    public init(line: Substring) {
        var fields: [String: String] = [:]
        for word in line.split(separator: " ", omittingEmptySubsequences: true) {
            guard let equals = word.firstIndex(of: "=") else { continue }
            fields[String(word[..<equals])] = String(word[word.index(after: equals)...])
        }
        self.fields = fields
    }

    public var id: Int? { fields["id"].flatMap { Int($0) } }
    public var name: String { fields["name"] ?? "" }
    public var address: String { fields["addr"] ?? "" }
    /// Channel, pattern and shard-channel subscriptions.
    public var subscriptions: Int {
        ["sub", "psub", "ssub"].compactMap { fields[$0].flatMap { Int($0) } }.reduce(0, +)
    }
    /// Pattern subscriptions (`psub`).
    public var patternSubscriptions: Int { fields["psub"].flatMap { Int($0) } ?? 0 }
    /// Output buffer memory in bytes (`omem`).
    public var outputMemory: Int { fields["omem"].flatMap { Int($0) } ?? 0 }

    /// Every entry of a `CLIENT LIST` reply.
    public static func parse(_ text: String) -> [ClientListEntry] {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .filter { !$0.isEmpty }
            .map { ClientListEntry(line: $0) }
    }
}
