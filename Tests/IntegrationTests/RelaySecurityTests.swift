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

    @Test func aBurstOfFailedLoginsFromOneAddressIsSlowedWithoutHoldingUpAnyoneElse() async throws {
        let lookout = try await InProcessLookout(arguments: ["--relay-password", "right"])
        let port = lookout.port
        let (replies, held, otherAnsweredMeanwhile) = try await offThePool { () throws -> ([String], Double, Bool) in
            let guesser = try TestConnection(port: port)
            let bystander = try TestConnection(port: port)
            _ = try bystander.call("AUTH", "right")
            // Five free failures, then three held back (100, 200, 400 ms), then a PING that must
            // come after them: pipelined in one write.
            var pipeline: [UInt8] = []
            for i in 0..<8 { pipeline += ScriptStep.encode([Array("AUTH".utf8), Array("guess\(i)".utf8)]) }
            pipeline += ScriptStep.encode([Array("PING".utf8)])
            let started = TestConnection.now()
            try guesser.send(pipeline)
            let first = try guesser.readValues(5)
            // While the sixth refusal is held, the relay serves everyone else.
            let pong = try bystander.call("PING")
            let rest = try guesser.readValues(4)
            let held = TestConnection.now() - started
            return ((first + rest).map { $0.string ?? "\($0)" }, held, pong.string == "PONG")
        }
        #expect(replies.prefix(8).allSatisfy { $0 == "WRONGPASS invalid username-password pair or user is disabled." }, "\(replies)")
        #expect(replies.last == "NOAUTH Authentication required.", "the PING runs after the held refusals, in order")
        #expect(held >= 0.7, "100 + 200 + 400 ms held back; took \(held) s")
        #expect(otherAnsweredMeanwhile)
        let counted = await eventually(seconds: 10) {
            let metrics = (try? await lookout.get("/metrics").body) ?? ""
            return metrics.contains("lookout_relay_auth_delayed_total 3")
                && metrics.contains(#"lookout_relay_auth_failures_total{reason="wrong_password"} 8"#)
        }
        #expect(counted != nil)
        try await lookout.stop()
    }
}
