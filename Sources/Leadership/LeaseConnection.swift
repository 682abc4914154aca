import Foundation
import LookoutCore
import RedisSources

/// The Redis side of an HA group's notification lease: three keys in one hash slot (the group is
/// their hash tag, so they live together on a Redis Cluster), changed only by scripts that run
/// atomically. `lookout:ha:{GROUP}:lease` holds "TOKEN INSTANCE" and expires with the lease;
/// `:fence` is the fencing token, incremented for each new holder; `:delivered` is the delivery
/// log, one field "FINGERPRINT NOTIFIER" per alert delivered firing and not yet resolved.
/// Blocking (hiredis): used from the lease's own thread only.
final class LeaseConnection {
    private let url: RedisURL
    private let timeoutSeconds: Int
    private var connection: RedisConnection
    private let keys: [String]

    /// Claims the lease for `ARGV[1]` for `ARGV[2]` ms: renews it when already held by
    /// `ARGV[1]`, takes it with the next fencing token when nobody holds it (`SET … NX PX` in
    /// effect), and otherwise answers who holds it. Replies `{held, token, holder}`.
    static let claimScript = """
        local current = redis.call('GET', KEYS[1])
        if current then
          local token, holder = string.match(current, '^(%d+) (.*)$')
          if holder == ARGV[1] then
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return {1, tonumber(token), holder}
          end
          return {0, tonumber(token) or 0, holder or current}
        end
        local token = redis.call('INCR', KEYS[2])
        redis.call('SET', KEYS[1], token .. ' ' .. ARGV[1], 'NX', 'PX', ARGV[2])
        return {1, token, ARGV[1]}
        """

    /// Records a delivery under fencing token `ARGV[1]` (field `ARGV[2]`; `ARGV[3]` is `firing`
    /// or `resolved`), unless a newer holder has taken the lease since. Replies 1 or 0.
    static let recordScript = """
        if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
        if ARGV[3] == 'firing' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[1]) else redis.call('HDEL', KEYS[3], ARGV[2]) end
        return 1
        """

    /// Gives the lease up when `ARGV[1]` holds it (a graceful stop). Replies 1 or 0.
    static let releaseScript = """
        local current = redis.call('GET', KEYS[1])
        if current and string.match(current, '^%d+ (.*)$') == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
        return 0
        """

    /// The keys of `group`'s lease, fencing token and delivery log.
    static func keys(group: String) -> [String] {
        ["lease", "fence", "delivered"].map { "lookout:ha:{\(group)}:\($0)" }
    }

    init(url: RedisURL, group: String, timeoutSeconds: Int) throws {
        self.url = url
        self.timeoutSeconds = timeoutSeconds
        keys = Self.keys(group: group)
        connection = try RedisConnection(url, clientName: "lookout-ha", timeoutSeconds: timeoutSeconds)
    }

    /// Who holds the lease once this claim ran.
    func claim(instance: String, milliseconds: Int) throws -> (held: Bool, token: UInt64, holder: String) {
        let reply = try script(Self.claimScript, [instance, String(milliseconds)])
        guard case .array(let parts) = reply, parts.count == 3, case .integer(let held) = parts[0], case .integer(let token) = parts[1],
              let holder = parts[2].text else {
            throw LeaseError(description: "unexpected answer to the lease claim: \(reply)")
        }
        return (held == 1, UInt64(max(0, token)), holder)
    }

    /// Writes one delivery in the log; false when a newer holder has taken the lease since.
    func record(fingerprint: String, notifier: String, status: Alert.Status, token: UInt64) throws -> Bool {
        try script(Self.recordScript, [String(token), fingerprint + " " + notifier, status.rawValue]) == .integer(1)
    }

    /// The delivery log: by notifier, the fingerprints delivered firing and not resolved since.
    func deliveredFiring() throws -> [String: Set<String>] {
        let reply = try command(["HGETALL", keys[2]])
        guard case .array(let items) = reply else { throw LeaseError(description: "unexpected answer to HGETALL: \(reply)") }
        var delivered: [String: Set<String>] = [:]
        for index in stride(from: 0, to: items.count - 1, by: 2) {
            guard let field = items[index].text, let space = field.firstIndex(of: " ") else { continue }
            delivered[String(field[field.index(after: space)...]), default: []].insert(String(field[..<space]))
        }
        return delivered
    }

    /// Gives the lease up if `instance` holds it.
    func release(instance: String) throws {
        _ = try script(Self.releaseScript, [instance])
    }

    private func script(_ source: String, _ arguments: [String]) throws -> RedisReply {
        try command(["EVAL", source, String(keys.count)] + keys + arguments)
    }

    /// Runs a command, following one `MOVED` redirection (the keys' slot lives elsewhere in a
    /// Redis Cluster): the connection then stays on the node that owns the slot.
    private func command(_ words: [String]) throws -> RedisReply {
        let reply = try connection.command(words)
        if case .error(let message) = reply {
            let parts = message.split(separator: " ")
            if parts.count == 3, parts[0] == "MOVED", let colon = parts[2].lastIndex(of: ":"),
               let port = Int(parts[2][parts[2].index(after: colon)...]) {
                // An empty host means the node that answered (Redis 7's cluster-preferred-endpoint-type).
                let named = parts[2][..<colon].trimmingCharacters(in: ["[", "]"])
                let host = named.isEmpty ? url.host : named
                connection = try RedisConnection(url.on(RedisEndpoint(host: host, port: port)), clientName: "lookout-ha",
                                                 timeoutSeconds: timeoutSeconds)
                return try checked(try connection.command(words), words)
            }
        }
        return try checked(reply, words)
    }

    private func checked(_ reply: RedisReply, _ words: [String]) throws -> RedisReply {
        if case .error(let message) = reply {
            throw LeaseError(description: "\(words[0] == "EVAL" ? "lease script" : words[0]): \(message)")
        }
        return reply
    }
}

/// An answer from Redis the lease cannot use (an error reply, or one of the wrong shape).
struct LeaseError: Error, CustomStringConvertible {
    var description: String
}
