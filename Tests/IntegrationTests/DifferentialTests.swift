import NIOCore
import RESP
import Relay
import Testing
import LookoutTestSupport

/// One step of a scripted session: what one client sends, and how its output is compared.
struct ScriptStep {
    enum Comparison {
        /// Byte-identical output.
        case exact
        /// Same values once the elements of each array are sorted (Redis lists channels in hash order).
        case unordered
        /// Not compared (replies that name versions or connection ids); other clients still are.
        case ignored
    }

    var client: Int
    var bytes: [UInt8]
    var comparison: Comparison = .exact
    /// The server closes this client's connection after the step.
    var closes = false

    static func command(_ client: Int, _ words: String..., comparison: Comparison = .exact, closes: Bool = false) -> Self {
        ScriptStep(client: client, bytes: encode(words.map { Array($0.utf8) }), comparison: comparison, closes: closes)
    }

    static func binary(_ client: Int, _ words: [[UInt8]]) -> Self {
        ScriptStep(client: client, bytes: encode(words))
    }

    static func raw(_ client: Int, _ text: String, closes: Bool = false) -> Self {
        ScriptStep(client: client, bytes: Array(text.utf8), closes: closes)
    }

    static func encode(_ words: [[UInt8]]) -> [UInt8] {
        var buffer = ByteBuffer()
        RESPRequest(arguments: words.map { ByteBuffer(bytes: $0) }).encode(into: &buffer)
        return Array(buffer.readableBytesView)
    }
}

/// Runs a script against a server and records, per step, what every client received.
///
/// After each step every open client is sent a sentinel, an unknown command named for the step,
/// and read up to its error reply (unknown commands are refused before authentication and
/// subscribed-mode checks, so the sentinel works in every state). A server writes a published message to its subscribers before it answers the
/// publisher, so everything a step caused has arrived by then, and the transcript is
/// deterministic wherever the server's replies are.
func runScript(_ steps: [ScriptStep], clients: Int, port: Int) throws -> [[[UInt8]]] {
    var connections: [TestConnection?] = try (0..<clients).map { _ in try TestConnection(port: port) }
    var transcript: [[[UInt8]]] = []
    for (index, step) in steps.enumerated() {
        guard let connection = connections[step.client] else { throw TestFailure("step \(index): client \(step.client) is closed") }
        try connection.send(step.bytes)
        var outputs = [[UInt8]](repeating: [], count: clients)
        if step.closes {
            outputs[step.client] = connection.readUntilClosed()
            if !connection.closedByPeer { throw TestFailure("step \(index): the server did not close the connection") }
            connections[step.client] = nil
        }
        let sentinel = "sentinel-\(index)"
        // The stepping client first: once its sentinel is answered, the server has run the step.
        let order = [step.client] + (0..<clients).filter { $0 != step.client }
        for client in order {
            guard let open = connections[client] else { continue }
            try open.send(command: sentinel)
            let (bytes, _) = try open.read(until: { value in
                if case .error(let message) = value { return message.contains("'\(sentinel)'") }
                return false
            })
            outputs[client] += bytes
        }
        transcript.append(outputs)
    }
    return transcript
}

private func sortedValues(_ bytes: [UInt8]) throws -> [String] {
    var buffer = ByteBuffer(bytes: bytes)
    var values: [String] = []
    func normalized(_ value: RESPValue) -> String {
        if let elements = value.elements { return "[" + elements.map(normalized).sorted().joined(separator: ",") + "]" }
        return "\(value)"
    }
    while let value = try RESPValueParser().next(&buffer) { values.append(normalized(value)) }
    return values
}

private func printable(_ bytes: [UInt8]) -> String {
    String(decoding: bytes.prefix(400), as: UTF8.self).debugDescription + (bytes.count > 400 ? "… (\(bytes.count) bytes)" : "")
}

/// Compares the relay with a real redis-server on the same scripted sessions.
@Suite(.serialized) struct DifferentialTests {
    static let globCases: [(pattern: String, channels: [String])] = [
        ("h?llo", ["hello", "hallo", "hllo", "heello"]),
        ("h*llo", ["hllo", "heeeello", "hellox"]),
        ("h[ae]llo", ["hello", "hallo", "hillo"]),
        ("h[^e]llo", ["hallo", "hello"]),
        ("h[a-b]llo", ["hallo", "hbllo", "hcllo"]),
        ("h[b-a]llo", ["hallo", "hcllo"]),
        ("h\\*llo", ["h*llo", "hello"]),
        ("[\\]]x", ["]x", "\\x"]),
        ("a*b*c", ["aXbYc", "abc", "aXbY"]),
        ("*", ["", "anything"]),
        ("[abc", ["c", "[abc", "d"]),
        ("user:*:events", ["user:42:events", "user:42:event"]),
        ("[^a-z]?", ["A1", "a1", "A"]),
        ("ab\\", ["ab\\", "ab"]),
    ]

    static var pubsubScript: [ScriptStep] {
        var steps: [ScriptStep] = [
            .command(0, "SUBSCRIBE", "orders", "payments"),
            .command(1, "PSUBSCRIBE", "ord*"),
            .command(2, "PUBLISH", "orders", "hello"),
            .command(2, "PUBLISH", "payments", "x"),
            .command(2, "PUBLISH", "nothing", "y"),
            .command(2, "PUBSUB", "NUMSUB", "orders", "payments", "nothing"),
            .command(2, "PUBSUB", "NUMSUB"),
            .command(2, "PUBSUB", "NUMPAT"),
            .command(2, "PUBSUB", "CHANNELS", comparison: .unordered),
            .command(2, "PUBSUB", "CHANNELS", "ord*"),
            .command(2, "PUBSUB", "CHANNELS", "zzz*"),
            .command(0, "ECHO", "not allowed here"),
            .command(0, "PING"),
            .command(0, "PING", "hi"),
            .command(0, "SUBSCRIBE", "orders"),
            .command(0, "UNSUBSCRIBE", "orders"),
            .command(2, "PUBLISH", "orders", "only the pattern"),
            .command(0, "UNSUBSCRIBE"),
            .command(0, "UNSUBSCRIBE"),
            .command(0, "PUNSUBSCRIBE"),
            .command(1, "PUNSUBSCRIBE", "ord*"),
            .command(1, "PUNSUBSCRIBE", "never"),
            .raw(0, "PING\r\n"),
            .raw(0, "ECHO \"in line\"\r\n"),
        ]
        for (pattern, channels) in globCases {
            steps.append(.command(1, "PSUBSCRIBE", pattern))
            for channel in channels { steps.append(.command(2, "PUBLISH", channel, "m")) }
            steps.append(.command(2, "PUBSUB", "CHANNELS", pattern))
            steps.append(.command(1, "PUNSUBSCRIBE", pattern))
        }
        let binaryChannel: [UInt8] = Array("bin\r\n".utf8) + [0, 0xFF] + Array("x".utf8)
        let binaryPayload: [UInt8] = [0x0D, 0x0A, 0x00, 0x0D, 0x24, 0x2A] + Array("payload\r\n".utf8)
        let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        steps += [
            .binary(0, [Array("SUBSCRIBE".utf8), binaryChannel]),
            .binary(2, [Array("PUBLISH".utf8), binaryChannel, binaryPayload]),
            .binary(2, [Array("PUBLISH".utf8), binaryChannel, large]),
            .binary(2, [Array("PUBSUB".utf8), Array("NUMSUB".utf8), binaryChannel]),
            .binary(0, [Array("UNSUBSCRIBE".utf8), binaryChannel]),
            // Channel, pattern and shard subscriptions on one client, and their counts.
            .command(0, "SUBSCRIBE", "a", "b"),
            .command(0, "SSUBSCRIBE", "s1", "s2"),
            .command(0, "PSUBSCRIBE", "p*"),
            .command(2, "SPUBLISH", "s1", "sharded"),
            .command(2, "PUBLISH", "s1", "not sharded"),
            .command(2, "PUBLISH", "pa", "pattern"),
            .command(2, "PUBSUB", "SHARDNUMSUB", "s1", "s2", "s3"),
            .command(2, "PUBSUB", "SHARDCHANNELS", comparison: .unordered),
            .command(2, "PUBSUB", "SHARDCHANNELS", "s1"),
            .command(0, "SUNSUBSCRIBE", "s1"),
            .command(0, "SUNSUBSCRIBE"),
            .command(0, "SUNSUBSCRIBE"),
            .command(0, "UNSUBSCRIBE", "b"),
            .command(0, "RESET"),
            .command(0, "PING"),
            .command(2, "PUBSUB", "NUMSUB", "a"),
            // RESP3
            .command(3, "HELLO", "3", comparison: .ignored),
            .command(3, "SUBSCRIBE", "c3"),
            .command(3, "PSUBSCRIBE", "c*"),
            .command(2, "PUBLISH", "c3", "to resp3"),
            .command(3, "PING"),
            .command(3, "ECHO", "allowed in resp3"),
            .command(3, "PUBSUB", "NUMSUB", "c3"),
            .command(3, "UNSUBSCRIBE"),
            .command(3, "PUNSUBSCRIBE"),
            .command(3, "UNSUBSCRIBE"),
            .command(3, "HELLO", "2", comparison: .ignored),
            .command(3, "SUBSCRIBE", "back-to-resp2"),
            .command(3, "UNSUBSCRIBE"),
        ]
        return steps
    }

    static var errorScript: [ScriptStep] {
        [
            .command(0, "foo", "a", "b"),
            .command(0, "foo"),
            .raw(0, "foo \"a\\r\\nb\" c\r\n"),
            .command(0, "SUBSCRIBE"),
            .command(0, "PUBLISH", "a"),
            .command(0, "PUBSUB"),
            .command(0, "PUBSUB", "foo"),
            .command(0, "PUBSUB", "NUMPAT", "x"),
            .command(0, "PUBSUB", "CHANNELS", "a", "b"),
            .command(0, "PING", "a", "b"),
            .command(0, "ECHO"),
            .command(0, "SELECT", "16"),
            .command(0, "SELECT", "x"),
            .command(0, "SELECT", "0"),
            .command(0, "FLUSHALL"),
            .command(0, "FLUSHDB", "ASYNC"),
            .command(0, "FLUSHALL", "foo"),
            // What test tooling sends to reset a server between tests.
            .command(0, "FLUSHDB"),
            .command(0, "FLUSHDB", "SYNC"),
            .command(0, "SCRIPT", "FLUSH"),
            .command(0, "SCRIPT", "FLUSH", "ASYNC"),
            .command(0, "SCRIPT", "FLUSH", "now"),
            .command(0, "FUNCTION", "FLUSH"),
            .command(0, "FUNCTION", "FLUSH", "SYNC"),
            .command(0, "FUNCTION", "FLUSH", "later"),
            .command(0, "CONFIG", "RESETSTAT"),
            .command(0, "CONFIG", "RESETSTAT", "x"),
            .command(0, "AUTH", "x"),
            .command(0, "AUTH", "a", "b", "c"),
            .command(0, "AUTH", "nobody", "x"),
            .command(0, "HELLO", "4"),
            .command(0, "HELLO", "x"),
            .command(0, "HELLO", "3", "foo"),
            .command(0, "HELLO", "2", "SETNAME", "a b"),
            .command(0, "CLIENT"),
            .command(0, "CLIENT", "foo"),
            .command(0, "CLIENT", "SETNAME", "a b"),
            .command(0, "CLIENT", "GETNAME"),
            .command(0, "CLIENT", "SETNAME", "worker-1"),
            .command(0, "CLIENT", "GETNAME"),
            .command(0, "CLIENT", "SETNAME", ""),
            .command(0, "CLIENT", "GETNAME"),
            .command(0, "CLIENT", "REPLY", "foo"),
            .raw(0, "CLIENT REPLY SKIP\r\nPING\r\n"),
            .command(0, "CLIENT", "KILL", "127.0.0.1:1"),
            .command(0, "CLIENT", "SETNAME"),
            .command(0, "CONFIG", "GET", "maxclients"),
            .raw(0, "\r\n\r\n  \r\nPING\r\n*0\r\n*-1\r\nPING\r\n"),
            .raw(1, "*1\r\n$-5\r\n", closes: true),
            .raw(2, "*2\r\nx\r\n", closes: true),
            .raw(3, "ping \"a\r\n", closes: true),
            .raw(4, "*3000000000\r\n", closes: true),
            .raw(5, "*1\r\n$4294967296\r\n", closes: true),
            .raw(6, "*1\r\n$a\r\n", closes: true),
            .command(0, "QUIT", closes: true),
        ]
    }

    static var authScript: [ScriptStep] {
        [
            .command(0, "PUBLISH", "a", "b"),
            .command(0, "SUBSCRIBE", "a"),
            .command(0, "foo"),
            .command(0, "HELLO", "3"),
            .command(0, "AUTH", "wrong"),
            .command(0, "AUTH", "default", "wrong"),
            .command(0, "AUTH", "s3cret"),
            .command(0, "PUBLISH", "a", "b"),
            .command(0, "RESET"),
            .command(0, "PUBLISH", "a", "b"),
            .command(0, "HELLO", "3", "AUTH", "default", "wrong"),
            .command(0, "HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "w1", comparison: .ignored),
            .command(0, "CLIENT", "GETNAME"),
            .command(1, "AUTH", "default", "s3cret"),
            .command(1, "SUBSCRIBE", "a"),
            .command(0, "PUBLISH", "a", "after auth"),
        ]
    }

    /// ACL users with channel permissions: a redis-server and the relay configured with the same
    /// users (the default user off), the same session against both.
    static var aclScript: [ScriptStep] {
        [
            .command(0, "PUBLISH", "orders.1", "x"),
            .command(0, "AUTH", "no-such-password"),
            .command(0, "AUTH", "alice", "wrong"),
            .command(0, "AUTH", "carol", "pw"),
            .command(0, "AUTH", "mallory", "pw"),
            .command(0, "AUTH", "alice", "secret"),
            .command(0, "ACL", "WHOAMI"),
            .command(0, "PUBLISH", "orders.1", "x"),
            .command(0, "PUBLISH", "payments.1", "x"),
            .command(0, "SPUBLISH", "payments.1", "x"),
            .command(1, "HELLO", "3", "AUTH", "bob", "wrong"),
            .command(1, "HELLO", "3", "AUTH", "bob", "hunter2", comparison: .ignored),
            .command(1, "ACL", "WHOAMI"),
            .command(1, "SUBSCRIBE", "payments.1", "orders.2"),
            .command(0, "SUBSCRIBE", "orders.2", "payments.1"),
            .command(0, "PSUBSCRIBE", "orders.1*"),
            .command(0, "PSUBSCRIBE", "orders.*"),
            .command(0, "SSUBSCRIBE", "payments.3"),
            .command(0, "SSUBSCRIBE", "orders.3"),
            .command(0, "UNSUBSCRIBE", "payments.1"),
            .command(2, "AUTH", "alice", "secret"),
            .command(2, "PUBLISH", "orders.2", "hello"),
            .command(2, "SPUBLISH", "orders.3", "sharded"),
            .command(1, "PUBLISH", "payments.1", "from bob"),
            .command(2, "RESET"),
            .command(2, "ACL", "WHOAMI"),
            .command(2, "PUBLISH", "orders.2", "x"),
            .command(2, "AUTH", "default", "x"),
            .command(2, "HELLO", "2", "AUTH", "carol", "pw"),
        ]
    }

    @Test func aclUsersMatchRedis() async throws {
        let redis = try RedisServer(extraArguments: [
            "--user", "default", "off", "resetpass",
            "--user", "alice", "on", ">secret", "&orders.*", "+@all",
            "--user", "bob", "on", ">hunter2", "allchannels", "+@all",
            "--user", "carol", "off", ">pw", "allchannels", "+@all",
        ], user: ("bob", "hunter2"))
        let users = [RelayUser(name: "alice", password: "secret", channels: ["orders.*"]),
                     RelayUser(name: "bob", password: "hunter2", channels: ["*"]),
                     RelayUser(name: "carol", password: "pw", enabled: false, channels: ["*"])]
        var configuration = RelayConfiguration(host: "127.0.0.1", port: 0)
        configuration.users = users
        try await withRelay(configuration) { relay in
            try compare(Self.aclScript, clients: 3, relay: relay.port, redis: redis.port)
        }
    }

    private func compare(_ script: [ScriptStep], clients: Int, relay: Int, redis: Int) throws {
        func run(_ server: String, _ port: Int) throws -> [[[UInt8]]] {
            do { return try runScript(script, clients: clients, port: port) } catch { throw TestFailure("\(server): \(error)") }
        }
        let expected = try run("redis-server", redis)
        let actual = try run("relay", relay)
        for (index, step) in script.enumerated() {
            for client in 0..<clients {
                let (want, got) = (expected[index][client], actual[index][client])
                if client == step.client && step.comparison == .ignored { continue }
                if client == step.client && step.comparison == .unordered {
                    #expect(try sortedValues(got) == sortedValues(want), "step \(index), client \(client)")
                    continue
                }
                let identical = got == want  // a Bool: Testing would diff megabyte arrays element by element
                #expect(identical, "step \(index) (client \(step.client) sent \(printable(step.bytes))), client \(client): redis \(printable(want)) relay \(printable(got))")
            }
        }
    }

    @Test func pubsubSessionsMatchRedis() async throws {
        let redis = try RedisServer()
        try await withRelay { relay in
            try compare(Self.pubsubScript, clients: 4, relay: relay.port, redis: redis.port)
        }
    }

    @Test func errorsMatchRedis() async throws {
        let redis = try RedisServer()
        try await withRelay { relay in
            try compare(Self.errorScript, clients: 7, relay: relay.port, redis: redis.port)
        }
    }

    @Test func authenticationMatchesRedis() async throws {
        let redis = try RedisServer(extraArguments: ["--requirepass", "s3cret"])
        try await withRelay(.init(password: "s3cret")) { relay in
            try compare(Self.authScript, clients: 2, relay: relay.port, redis: redis.port)
        }
    }
}
