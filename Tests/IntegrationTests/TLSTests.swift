#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LookoutCore
import RESP
import RedisSources
import Testing
import LookoutTestSupport

// Each is used from one task at a time, handed to a thread and back, never from two at once.
extension RedisConnection: @unchecked Sendable {}

/// TLS both ways, with certificates `openssl` makes for each test: real clients (redis-cli,
/// redis-py, hiredis through Lookout's own tunnel) against the relay's TLS listener, the
/// sidecar against a redis-server that speaks only TLS, and a certificate reload on SIGHUP.
@Suite(.serialized) struct TLSTests {
    /// A `rediss://` URL that trusts `ca`, presenting `client` when given.
    /// Why connecting to `url` failed ("connected" when it did not).
    private static func refusal(_ url: RedisURL) -> String {
        do {
            _ = try RedisConnection(url, clientName: nil, timeoutSeconds: 5)
            return "connected"
        } catch {
            return "\(error)"
        }
    }

    private func url(port: Int, ca: String, client: (certificate: String, key: String)? = nil) -> RedisURL {
        var url = RedisURL("rediss://127.0.0.1:\(port)")!
        url.tls = RedisTLSSettings(caPath: ca, certificatePath: client?.certificate, keyPath: client?.key)
        return url
    }

    @Test func redisCliRedisPyAndHiredisTalkToTheRelayOverTLS() async throws {
        let authority = try TestCertificates()
        let server = try authority.issue("relay", server: true)
        let client = try authority.issue("orders-service", server: false)
        let lookout = try await InProcessLookout(arguments: [
            "--relay-tls", "127.0.0.1:0", "--tls-cert", server.certificate, "--tls-key", server.key, "--tls-ca", authority.caPath,
        ])
        let tlsPort = lookout.tlsPort
        #expect(tlsPort != 0 && lookout.port != 0, "TLS beside the plain port")
        let cli = try executable("redis-cli")
        let tlsArguments = ["--tls", "--cacert", authority.caPath, "--cert", client.certificate, "--key", client.key, "-p", "\(tlsPort)"]

        // redis-cli (hiredis with OpenSSL): a subscriber and a publisher over TLS.
        let subscriber = try ChildProcess(cli, tlsArguments + ["subscribe", "orders.tls"])
        defer { subscriber.stop() }
        let admin = try TestConnection(port: lookout.port)
        let subscribed = try await offThePool {
            blockingEventually(seconds: 15) { (try? admin.call("PUBSUB", "NUMSUB", "orders.tls").elements?.last) == .integer(1) }
        }
        #expect(subscribed != nil, "redis-cli --tls subscribed: \(subscriber.output())")
        let published = try await runCommand(cli, tlsArguments + ["publish", "orders.tls", "over-tls"])
        #expect(published.status == 0 && published.output == "1\n", "\(published.output)")
        let delivered = try await offThePool { blockingEventually(seconds: 10) { subscriber.output().contains("message\norders.tls\nover-tls") } }
        #expect(delivered != nil, "\(subscriber.output())")

        // Without a client certificate the relay refuses (tls-auth-clients yes, the default with a CA).
        let anonymous = try await runCommand(cli, ["--tls", "--cacert", authority.caPath, "-p", "\(tlsPort)", "ping"])
        #expect(!anonymous.output.contains("PONG"), "\(anonymous.output)")
        // redis-cli only sees the connection closed (TLS 1.3 refuses after the handshake); the
        // alert itself names the reason.
        let bare = try await runCommand(try executable("openssl"), ["s_client", "-connect", "127.0.0.1:\(tlsPort)", "-CAfile", authority.caPath, "-quiet"],
                                  input: "PING\r\n")
        #expect(bare.output.contains("alert certificate required"), "refused for its missing certificate: \(bare.output)")
        #expect(!bare.output.contains("+PONG"), "\(bare.output)")
        let stillServing = try await runCommand(cli, tlsArguments + ["ping"])
        #expect(stillServing.output == "PONG\n", "the relay still serves clients with a certificate: \(stillServing.output)")

        // redis-py with ssl=True: publish to a subscriber of its own, and read the message back.
        let script = """
            import redis, sys
            r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), ssl=True, ssl_ca_certs=sys.argv[2],
                            ssl_certfile=sys.argv[3], ssl_keyfile=sys.argv[4], socket_timeout=10)
            p = r.pubsub()
            p.subscribe("orders.py")
            p.get_message(timeout=5)
            print("receivers", r.publish("orders.py", "from-python"))
            m = p.get_message(timeout=5)
            print("received", m["channel"].decode(), m["data"].decode())
            print("ping", r.ping())
            """
        let python = try await runCommand("/usr/bin/python3", ["-c", script, "\(tlsPort)", authority.caPath, client.certificate, client.key])
        #expect(python.status == 0, "\(python.output)")
        #expect(python.output == "receivers 1\nreceived orders.py from-python\nping True\n", "\(python.output)")

        // hiredis through Lookout's tunnel (what the sidecar uses for rediss://).
        let linked = try await offThePool { () throws -> [RedisReply] in
            let connection = try RedisConnection(url(port: tlsPort, ca: authority.caPath, client: client), clientName: "tunnel", timeoutSeconds: 5)
            return [try connection.command(["PING"]), try connection.command(["PUBLISH", "orders.tls", "x"]),
                    try connection.command(["CLIENT", "SETNAME", "again"])]
        }
        #expect(linked == [.status("PONG"), .integer(1), .status("OK")])

        // The monitor counts what crossed the TLS listener as it counts the rest.
        let counted = await eventually(seconds: 10) {
            let metrics = (try? await lookout.get("/metrics").body) ?? ""
            return MonitorIntegrationTests.sample(metrics, #"lookout_channel_messages_total{channel="orders.tls"}"#) == 2
                && MonitorIntegrationTests.sample(metrics, #"lookout_channel_messages_total{channel="orders.py"}"#) == 1
        }
        #expect(counted != nil)
        try await lookout.stop()
    }

    @Test func aPlainTextClientOnTheTLSPortGetsNothingItCanUse() async throws {
        let authority = try TestCertificates()
        let server = try authority.issue("relay", server: true)
        let lookout = try await InProcessLookout(arguments: [
            "--relay-tls", "127.0.0.1:0", "--relay-tls-only", "--tls-cert", server.certificate, "--tls-key", server.key,
        ])
        #expect(lookout.port == 0 && lookout.tlsPort != 0, "TLS only: no plain listener")
        let port = lookout.tlsPort
        let answer = try await offThePool { () throws -> (bytes: [UInt8], closed: Bool) in
            let connection = try TestConnection(port: port)
            try connection.send(Array("PING\r\nPUBLISH orders x\r\nSUBSCRIBE orders\r\n".utf8))
            let bytes = connection.readUntilClosed(timeoutSeconds: 10)
            return (bytes, connection.closedByPeer)
        }
        #expect(answer.closed, "the relay closes a connection that does not speak TLS")
        let text = String(decoding: answer.bytes, as: UTF8.self)
        #expect(!text.contains("PONG") && !text.contains(":") && !text.contains("subscribe"), "no RESP reply: \(answer.bytes.prefix(16))")
        // Without a CA, no client certificate is asked for: a TLS client with none is served.
        let reply = try await offThePool { try RedisConnection(url(port: port, ca: authority.caPath), clientName: nil, timeoutSeconds: 5).command(["PING"]) }
        #expect(reply == .status("PONG"))
        try await lookout.stop()
    }

    @Test func theSidecarCountsEveryMessageOnATLSOnlyRedisWithClientCertificates() async throws {
        let authority = try TestCertificates()
        let server = try authority.issue("redis", server: true)
        let client = try authority.issue("lookout", server: false)
        let redis = try RedisServer(extraArguments: [
            "--tls-cert-file", server.certificate, "--tls-key-file", server.key, "--tls-ca-cert-file", authority.caPath,
            "--tls-auth-clients", "yes",
        ], tls: RedisTLSSettings(caPath: authority.caPath, certificatePath: client.certificate, keyPath: client.key))
        let source = "rediss://127.0.0.1:\(redis.port)"
        let lookout = try await InProcessLookout(arguments: [
            "--no-relay", "--redis", source, "--redis-tls-ca", authority.caPath,
            "--redis-tls-cert", client.certificate, "--redis-tls-key", client.key,
        ])
        let up = await eventually(seconds: 20) {
            MonitorIntegrationTests.sample((try? await lookout.get("/metrics").body) ?? "", "lookout_source_up{source=\"\(source)\"}") == 1
        }
        #expect(up != nil, "the source connects over TLS with its client certificate")

        let perChannel = 300
        let tlsURL = url(port: redis.port, ca: authority.caPath, client: client)
        let receivers = try await offThePool { () throws -> [RedisReply] in
            let publisher = try RedisConnection(tlsURL, clientName: "publisher", timeoutSeconds: 5)
            for i in 0..<perChannel {
                for channel in ["tls.orders", "tls.audit"] { try publisher.append(["PUBLISH", channel, "m\(i)"]) }
            }
            return try (0..<(perChannel * 2)).map { _ in try publisher.nextReply() }
        }
        #expect(receivers.allSatisfy { $0 == .integer(1) }, "the monitor's PSUBSCRIBE is the one receiver")
        var metrics = ""
        let counted = await eventually(seconds: 15) {
            metrics = (try? await lookout.get("/metrics").body) ?? ""
            return MonitorIntegrationTests.sample(metrics, #"lookout_channel_messages_total{channel="tls.audit"}"#) == Double(perChannel)
        }
        #expect(counted != nil)
        #expect(MonitorIntegrationTests.sample(metrics, #"lookout_channel_messages_total{channel="tls.orders"}"#) == Double(perChannel))
        #expect(MonitorIntegrationTests.sample(metrics, "lookout_source_up{source=\"\(source)\"}") == 1)

        // A consumer that beats twice and goes silent: its alert reaches the bus over TLS too.
        let alert = try await offThePool { () throws -> RedisReply in
            let bus = try RedisConnection(tlsURL, clientName: "bus", timeoutSeconds: 10)
            _ = try bus.command(["SUBSCRIBE", "lookout:alerts"])
            let consumer = try RedisConnection(tlsURL, clientName: nil, timeoutSeconds: 5)
            for _ in 0..<2 {
                _ = try consumer.command(["PUBLISH", "lookout:heartbeat", #"{"v":1,"consumer":"tls-worker","interval_ms":200}"#])
                usleep(100_000)
            }
            return try bus.nextReply()
        }
        guard case .array(let parts) = alert, case .bytes(let payload)? = parts.last else { throw TestFailure("\(alert)") }
        #expect(String(decoding: payload, as: UTF8.self).contains(#""alertname":"LookoutConsumerDown""#))
        try await lookout.stop()

        // Lookout with a CA that does not vouch for the server: not ready, and says why.
        let stranger = try TestCertificates(name: "stranger")
        let mistrusting = try await InProcessLookout(arguments: [
            "--no-relay", "--redis", source, "--redis-tls-ca", stranger.caPath,
            "--redis-tls-cert", client.certificate, "--redis-tls-key", client.key,
        ])
        var readiness = ""
        let explained = await eventually(seconds: 15) {
            readiness = (try? await mistrusting.get("/readyz").body) ?? ""
            return readiness.contains("CERTIFICATE_VERIFY_FAILED")
        }
        #expect(explained != nil, "\(readiness)")
        try await mistrusting.stop()

        // The same through a bare connection; --redis-tls-insecure then skips the check.
        var wrong = tlsURL
        wrong.tls?.caPath = stranger.caPath
        let untrusted = wrong
        let refused = try await offThePool { () -> String in
            do {
                _ = try RedisConnection(untrusted, clientName: nil, timeoutSeconds: 5)
                return "connected"
            } catch {
                return "\(error)"
            }
        }
        #expect(refused.contains("TLS handshake") && refused.contains("CERTIFICATE_VERIFY_FAILED"), "\(refused)")
        // --redis-tls-insecure skips the check (for a test bench; logged loudly).
        wrong.tls?.verify = false
        let unchecked = wrong
        let insecure = try await offThePool { try RedisConnection(unchecked, clientName: nil, timeoutSeconds: 5).command(["PING"]) }
        #expect(insecure == .status("PONG"))
    }

    @Test func sighupReloadsTheRelaysCertificateAndKeepsOpenConnections() async throws {
        let first = try TestCertificates(name: "first")
        let second = try TestCertificates(name: "second")
        let (certificate, key) = (first.directory + "/live.crt", first.directory + "/live.key")
        func install(_ issued: (certificate: String, key: String)) throws {
            // Renewals replace the files by renaming new ones over them, as certbot and cert-manager do.
            for (from, to) in [(issued.certificate, certificate), (issued.key, key)] {
                try? FileManager.default.removeItem(atPath: to + ".new")
                try FileManager.default.copyItem(atPath: from, toPath: to + ".new")
                guard rename(to + ".new", to) == 0 else { throw TestFailure("rename \(to)") }
            }
        }
        try install(try first.issue("relay-1", server: true))
        let lookout = try LookoutProcess(arguments: ["--relay-tls", "127.0.0.1:0", "--tls-cert", certificate, "--tls-key", key])
        let port = lookout.tlsPort
        let trustsFirst = url(port: port, ca: first.caPath)
        let trustsSecond = url(port: port, ca: second.caPath)

        let (open, before, refusedBefore) = try await offThePool { () throws -> (RedisConnection, RedisReply, String) in
            let open = try RedisConnection(trustsFirst, clientName: "long-lived", timeoutSeconds: 5)
            return (open, try open.command(["PING"]), Self.refusal(trustsSecond))
        }
        #expect(before == .status("PONG"))
        #expect(refusedBefore.contains("TLS handshake") && refusedBefore.contains("CERTIFICATE_VERIFY_FAILED"),
                "the second CA does not vouch for the first certificate: \(refusedBefore)")

        try install(try second.issue("relay-2", server: true))
        kill(lookout.child.pid, SIGHUP)
        let reloaded = try await offThePool {
            blockingEventually(seconds: 10) { (try? RedisConnection(trustsSecond, clientName: nil, timeoutSeconds: 5).command(["PING"])) == .status("PONG") }
        }
        #expect(reloaded != nil, "new connections get the new certificate: \(lookout.child.output().suffix(500))")
        let after = try await offThePool { () throws -> (RedisReply, String, RedisReply?) in
            (try open.command(["PING"]), Self.refusal(trustsFirst),
             try? RedisConnection(trustsSecond, clientName: nil, timeoutSeconds: 5).command(["PING"]))
        }
        #expect(after.0 == .status("PONG"), "the connection opened before the reload is still served")
        #expect(after.1.contains("TLS handshake") && after.1.contains("CERTIFICATE_VERIFY_FAILED"),
                "the old certificate is no longer served: \(after.1)")
        #expect(after.2 == .status("PONG"), "and the server is up, serving the new one")

        // A renewal gone wrong (a key that is not PEM): logged, and the certificate in use stays.
        try "not a key".write(toFile: key, atomically: true, encoding: .utf8)
        kill(lookout.child.pid, SIGHUP)
        let complained = try await offThePool {
            blockingEventually(seconds: 10) { lookout.child.output().contains("relay TLS certificates not reloaded") }
        }
        #expect(complained != nil, "\(lookout.child.output().suffix(500))")
        let still = try await offThePool { try RedisConnection(trustsSecond, clientName: nil, timeoutSeconds: 5).command(["PING"]) }
        #expect(still == .status("PONG"))
        #expect(lookout.child.isRunning)
    }

    @Test func aCertificateThatCannotBeReadStopsTheStartWithItsName() throws {
        let lookout = try ChildProcess(try LookoutProcess.binary, [
            "serve", "--relay", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--no-db",
            "--relay-tls", "127.0.0.1:0", "--tls-cert", "/nonexistent/relay.crt", "--tls-key", "/nonexistent/relay.key",
        ])
        #expect(lookout.waitForExit(seconds: 20) == 2)
        #expect(lookout.output().contains("cannot read the certificate file '/nonexistent/relay.crt'"), "\(lookout.output())")
    }

    /// The README's word: the CLI's heartbeat sender speaks plain TCP only and refuses `rediss://`
    /// saying so, before it connects anywhere.
    @Test func lookoutHeartbeatRefusesRedissSayingItSpeaksPlainTCPOnly() async throws {
        let result = try await runCommand(try LookoutProcess.binary, ["heartbeat", "--consumer", "w1", "--redis", "rediss://127.0.0.1:1"])
        #expect(result.status == 2, "a usage error: \(result.output)")
        #expect(result.output.contains("lookout heartbeat speaks plain TCP only"), "\(result.output)")
    }
}
