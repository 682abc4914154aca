import Foundation
import LookoutTestSupport
import RESP
import Testing

/// The relay's users and what is counted about them, configured as users configure it (the
/// config file) in a running `lookout serve`.
@Suite struct RelaySecurityTests {
    @Test func usersFromTheConfigFileLogInAndFailuresAreCountedWithoutTheirPasswords() async throws {
        let path = NSTemporaryDirectory() + "lookout-users-\(UUID().uuidString).yaml"
        try """
            relay:
              users:
                - name: alice
                  password: secret-alice
                  channels: ["orders.*"]
                - name: bob
                  password_hash: f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7
                  channels: ["*"]
                - name: carol
                  password: secret-carol
                  enabled: false
                  channels: ["*"]
            """.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let lookout = try await InProcessLookout(arguments: ["--config", path])
        let connection = try TestConnection(port: lookout.port)
        let replies = try await offThePool { () throws -> [String] in
            var replies: [String] = []
            for words in [["PING"], ["AUTH", "alice", "wrong"], ["AUTH", "alice", "wrong-again"], ["AUTH", "alice", "nope"],
                          ["AUTH", "mallory", "x"], ["AUTH", "carol", "secret-carol"], ["AUTH", "secret-alice"],
                          ["AUTH", "bob", "hunter2"], ["ACL", "WHOAMI"], ["CLIENT", "INFO"]] {
                try connection.send(command: words.map { Array($0.utf8) })
                let reply = try connection.readValues(1)[0]
                replies.append(reply.string ?? "\(reply)")
            }
            return replies
        }
        #expect(replies[0].hasPrefix("NOAUTH"), "the default user is off when users are configured")
        #expect(replies[1...6].allSatisfy { $0 == "WRONGPASS invalid username-password pair or user is disabled." }, "\(replies)")
        #expect(replies[7] == "OK" && replies[8] == "bob", "a user given by its password's SHA-256 logs in with the password")
        #expect(replies[9].contains(" user=bob "), "\(replies[9])")
        // Exported at the monitor's next refresh (every second).
        var metrics = ""
        let counted = await eventually(seconds: 10) {
            metrics = (try? await lookout.get("/metrics").body) ?? ""
            return metrics.contains(#"lookout_relay_auth_failures_total{reason="wrong_password"} 3"#)
        }
        #expect(counted != nil, "alice's three wrong passwords")
        #expect(metrics.contains(#"lookout_relay_auth_failures_total{reason="unknown_user"} 2"#), "mallory, and the default user (off, not listed)")
        #expect(metrics.contains(#"lookout_relay_auth_failures_total{reason="disabled_user"} 1"#))
        for secret in ["secret-alice", "secret-carol", "hunter2", "wrong-again"] {
            #expect(!metrics.contains(secret) && !replies[9].contains(secret), "\(secret) appears")
        }
        try await lookout.stop()
    }
}
