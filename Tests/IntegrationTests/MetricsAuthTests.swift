#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import LookoutTestSupport

/// `--metrics-auth`: `/metrics`, the API and the status page refuse a request without the
/// credentials; the probes stay open; a real Prometheus scrapes with them, `lookout top` reads
/// with them.
@Suite(.serialized) struct MetricsAuthTests {
    private func secretFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "lookout-auth-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aBearerTokenGuardsEverythingButTheProbesAndPrometheusScrapesWithIt() async throws {
        let tokenFile = try secretFile("s3cret-token\n")
        defer { unlink(tokenFile) }
        let lookout = try await InProcessLookout(arguments: ["--metrics-auth", "bearer:\(tokenFile)"])
        let port = lookout.metricsPort
        let answers = try await offThePool { () throws -> [String: Int] in
            var answers: [String: Int] = [:]
            for path in ["/metrics", "/api/v1/channels", "/", "/healthz", "/readyz"] {
                answers[path] = try httpGet(port: port, path: path).status
                answers[path + " wrong"] = try httpGet(port: port, path: path, headers: ["Authorization: Bearer s3cret-tokeN"]).status
                answers[path + " right"] = try httpGet(port: port, path: path, headers: ["Authorization: Bearer s3cret-token"]).status
            }
            return answers
        }
        for path in ["/metrics", "/api/v1/channels", "/"] {
            #expect(answers[path] == 401 && answers[path + " wrong"] == 401, "\(path): \(answers)")
            #expect(answers[path + " right"] == 200, "\(path): \(answers)")
        }
        #expect(answers["/healthz"] == 200 && answers["/readyz"] == 200, "probes need no credentials")

        // A real Prometheus with the token in its scrape job sees Lookout up and its series.
        let prometheus = try await PrometheusServer(scrapePort: port, alertmanagerPort: try freeLoopbackPort(), rules: Dashboards.rulesFile,
                                              scrapeAuthorization: ["authorization:", "  credentials_file: \(tokenFile)"])
        let scraped = await eventually(seconds: 20) {
            (try? prometheus.query(#"up{job="lookout"} == 1"#).count) == 1
                && (try? prometheus.query(#"lookout_relay_clients{job="lookout"}"#).isEmpty) == false
        }
        #expect(scraped != nil, "Prometheus scrapes with the bearer token")
        try await lookout.stop()
    }

    @Test func basicCredentialsAndLookoutTop() async throws {
        let credentials = try secretFile("ops:pa:ss\n")
        defer { unlink(credentials) }
        let lookout = try await InProcessLookout(arguments: ["--metrics-auth", "basic:\(credentials)"])
        let port = lookout.metricsPort
        let encoded = Data("ops:pa:ss".utf8).base64EncodedString()
        let (refused, challenge, accepted) = try await offThePool { () throws -> (Int, Bool, Int) in
            let connection = try TestConnection(port: port)
            try connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            let head = String(decoding: connection.readUntilClosed(), as: UTF8.self).lowercased()
            return (try httpGet(port: port, path: "/metrics", headers: ["Authorization: Basic \(Data("ops:wrong".utf8).base64EncodedString())"]).status,
                    head.contains("www-authenticate: basic realm=\"lookout\""),
                    try httpGet(port: port, path: "/metrics", headers: ["Authorization: Basic \(encoded)"]).status)
        }
        #expect(refused == 401 && challenge, "a browser is asked for the user and password")
        #expect(accepted == 200, "the password may hold a colon")

        let url = "http://127.0.0.1:\(port)"
        let (without, with) = try await offThePool { () throws -> ((status: Int32?, output: String), (status: Int32?, output: String)) in
            (try runCommand(try LookoutProcess.binary, ["top", "--once", "--url", url]),
             try runCommand(try LookoutProcess.binary, ["top", "--once", "--url", url, "--metrics-auth", "basic:\(credentials)"]))
        }
        #expect(without.status != 0 && without.output.contains("asks for credentials"), "\(without.output)")
        #expect(with.status == 0 && with.output.hasPrefix("lookout top — \(url)"), "\(with.output)")
        try await lookout.stop()
    }

    @Test func aCredentialsFileThatCannotBeUsedStopsTheStart() throws {
        let empty = try secretFile("\n")
        defer { unlink(empty) }
        for (argument, message) in [("bearer:/nonexistent/token", "cannot read the bearer credentials file '/nonexistent/token'"),
                                    ("basic:\(empty)", "must hold one line"),
                                    ("digest:/x", "is not basic:FILE or bearer:FILE")] {
            let lookout = try ChildProcess(try LookoutProcess.binary, [
                "serve", "--relay", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--no-db", "--metrics-auth", argument,
            ])
            #expect(lookout.waitForExit(seconds: 20) == 2, "\(argument)")
            #expect(lookout.output().contains(message), "\(lookout.output())")
        }
    }

    /// The README says so: an HTTP server that listens beyond loopback with no credentials logs
    /// a warning (it is read-only, but names every channel and consumer); with credentials, or on
    /// loopback, it does not. (It listens on every interface for a moment; the test talks to it on
    /// loopback only.)
    @Test func theHTTPServerBeyondLoopbackWithNoCredentialsIsWarnedAbout() throws {
        let tokenFile = try secretFile("s3cret-token\n")
        defer { unlink(tokenFile) }
        let warning = "the HTTP server (/metrics, the API, the status page) listens beyond loopback with no authentication"
        for (arguments, warned) in [(["--metrics", "0.0.0.0:0"], true), (["--metrics", "0.0.0.0:0", "--metrics-auth", "bearer:\(tokenFile)"], false),
                                    ([], false)] {
            let lookout = try LookoutProcess(arguments: ["--no-db"] + arguments)
            #expect(try lookout.get("/healthz").status == 200)
            #expect(lookout.child.output().contains(warning) == warned, "\(arguments): \(lookout.child.output())")
        }
    }
}
