#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import LookoutTestSupport

/// The status page at `/`, rendered by headless Chromium against a real Lookout with traffic and
/// a heartbeat consumer: it shows the channel and the consumer, and follows the consumer's death.
@Suite(.serialized) struct StatusPageTests {
    /// Where the screenshot goes, for people to look at: `.build/test-output/` in the package.
    static let outputDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/test-output")

    /// Chromium, headless, with its own profile and no way out but loopback; `arguments` before the URL.
    static func chromium(_ arguments: [String], url: String) throws -> String {
        let profile = "/tmp/lookout-chromium-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = try? runCommand("/bin/rm", ["-rf", profile]) }
        let result = try runCommand(try executable("chromium"), [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--virtual-time-budget=5000",
        ] + arguments + [url])
        #expect(result.status == 0, "chromium: \(result.output.suffix(500))")
        return result.output
    }

    /// The rendered page's text, and the consumer row's `data-state`.
    private func render(_ port: Int) throws -> (text: String, consumerState: String?) {
        let dom = try Self.chromium(["--dump-dom"], url: "http://127.0.0.1:\(port)/")
        return (Self.visibleText(dom), dom.range(of: #"data-consumer="billing-7" data-state="([a-z]+)""#, options: .regularExpression).map { match in
            String(dom[match].split(separator: "\"")[3])
        })
    }

    /// The text of the page's main part, markup and script left out.
    static func visibleText(_ dom: String) -> String {
        let main = dom.range(of: "<main").map { String(dom[$0.lowerBound...]) } ?? dom
        let script = main.range(of: "<script").map { String(main[..<$0.lowerBound]) } ?? main
        return script.replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression)
            .replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression)
    }

    @Test func thePageShowsTheBusAndFollowsAConsumersDeath() async throws {
        let lookout = try await InProcessLookout()
        let page = try await lookout.get("/")
        #expect(page.status == 200)
        for external in [#"src="http"#, #"href="http"#, "url(", "@import", "//cdn", "fonts.googleapis"] {
            #expect(!page.body.contains(external), "the page loads nothing from outside Lookout (\(external))")
        }
        let subscriber = try TestConnection(port: lookout.port)
        _ = try await subscriber.call("SUBSCRIBE", "orders.created")
        let publisher = try TestConnection(port: lookout.port)
        for index in 0..<20 { _ = try await publisher.call("PUBLISH", "orders.created", "order \(index)") }
        let consumer = try heartbeatLoop(port: lookout.port, consumer: "billing-7")
        defer { consumer.stop(signal: SIGKILL) }
        #expect(try await eventually { try await lookout.get("/api/v1/consumers").body.contains("billing-7") } != nil)

        let port = lookout.metricsPort
        let alive = try await offThePool { try self.render(port) }
        #expect(alive.text.contains("orders.created"), "the channel is listed: \(alive.text.prefix(600))")
        #expect(alive.text.contains("billing-7") && alive.text.contains("group billing"), "the consumer is listed under its group")
        #expect(alive.consumerState == "up")
        #expect(!alive.text.contains("Consumer groups:"), "no Streams table on the relay (nothing watched)")

        try FileManager.default.createDirectory(at: Self.outputDirectory, withIntermediateDirectories: true)
        let screenshot = Self.outputDirectory.appendingPathComponent("status-page.png").path
        // A screenshot left by an earlier run must not stand in for this one.
        try? FileManager.default.removeItem(atPath: screenshot)
        #expect(!FileManager.default.fileExists(atPath: screenshot))
        _ = try await offThePool { try Self.chromium(["--hide-scrollbars", "--window-size=1280,900", "--screenshot=\(screenshot)"],
                                                     url: "http://127.0.0.1:\(port)/") }
        let png = try #require(FileManager.default.contents(atPath: screenshot), "Chromium wrote the screenshot")
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        #expect(png.count > 10_000, "a rendered page, not a blank one: \(png.count) bytes")
        print("status page screenshot: \(screenshot)")

        await consumer.stop(signal: SIGKILL)
        #expect(try await eventually { try await lookout.get("/api/v1/consumers").body.contains(#""state" : "down""#) } != nil)
        // The page lists alerts from the store, which the writer flushes every second.
        #expect(try await eventually { try await lookout.get("/api/v1/alerts").body.contains("LookoutConsumerDown") } != nil)
        let dead = try await offThePool { try self.render(port) }
        #expect(dead.consumerState == "down", "the page follows the consumer's death")
        #expect(dead.text.contains("LookoutConsumerDown"), "and shows its alert firing")
        try await lookout.stop()
    }

    /// In sidecar mode with streams watched: a Streams section, the group behind, its dead
    /// consumer linked to the consumer's page.
    @Test func theStreamsSectionShowsAGroupBehindAndItsDeadConsumer() async throws {
        let redis = try RedisServer()
        let client = try TestConnection(port: redis.port)
        try await offThePool {
            for index in 0..<30 { _ = try client.call("XADD", "payments", "*", "n", "\(index)") }
            _ = try client.call("XGROUP", "CREATE", "payments", "ledger", "0")
            _ = try client.call("XREADGROUP", "GROUP", "ledger", "ledger-1", "COUNT", "4", "STREAMS", "payments", ">")
        }
        let lookout = try await InProcessLookout(arguments: ["--no-relay", "--redis", "redis://127.0.0.1:\(redis.port)", "--stream", "pay*",
                                                             "--stream-interval", "200ms", "--stream-dead-after", "1s"])
        let dead = try await eventually(seconds: 30) { try await lookout.get("/api/v1/streams").body.contains("ledger-1") }
        #expect(dead != nil)
        let port = lookout.metricsPort
        let dom = try await offThePool { try Self.chromium(["--dump-dom"], url: "http://127.0.0.1:\(port)/") }
        let text = Self.visibleText(dom)
        #expect(text.contains("Redis Streams") && text.contains("Consumer groups:"), "\(text.prefix(800))")
        let row = try #require(dom.range(of: #"<tr data-stream-group="payments/ledger"[^>]*>.*?</tr>"#, options: .regularExpression).map { String(dom[$0]) },
                               "\(dom.suffix(3000))")
        let cells = Self.visibleText(row).split(separator: " ").map(String.init)
        #expect(cells.starts(with: ["payments", "ledger", "26", "4"]), "stream, group, lag, pending: \(cells)")
        #expect(row.contains(#"data-healthy="false""#))
        #expect(row.contains(##"href="#consumer=payments%2Fledger%2Fledger-1""##), "the dead consumer links to its page: \(row)")
        try await lookout.stop()
    }

    @Test func lookoutTopOncePrintsAFrameFromTheAPI() async throws {
        let lookout = try await InProcessLookout()
        let publisher = try TestConnection(port: lookout.port)
        _ = try await publisher.call("PUBLISH", "lookout:heartbeat", #"{"v":1,"consumer":"top-1","group":"g","interval_ms":60000}"#)
        _ = try await publisher.call("PUBLISH", "invoices", "x")
        let url = "http://127.0.0.1:\(lookout.metricsPort)"
        var frame = ""
        let shown = try await eventually {
            frame = try await runCommand(try LookoutProcess.binary, ["top", "--once", "--url", url]).output
            return frame.contains("top-1") && frame.contains("invoices")
        }
        #expect(shown != nil, "\(frame)")
        #expect(frame.hasPrefix("lookout top — \(url)"))
        #expect(frame.contains("sources: relay up"))
        #expect(!frame.contains("\u{1B}"), "no colours when standard output is not a terminal")
        try await lookout.stop()
        let gone = try await runCommand(try LookoutProcess.binary, ["top", "--once", "--url", url])
        #expect(gone.status == 1)
        #expect(gone.output.contains("cannot reach Lookout at \(url)"))
    }
}
