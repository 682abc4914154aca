#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import LookoutTestSupport

/// The whole path with the real stack: lookout serve → Prometheus (alerts.yml) → Alertmanager →
/// the test's webhook, next to Lookout's own Alertmanager notifier; and every dashboard panel
/// returns data from that Prometheus.
@Suite(.serialized) struct EndToEndTests {
    /// Needs Debian's prometheus and prometheus-alertmanager (`make test` installs them): without
    /// them it fails, naming what is missing, rather than skipping.
    @Test(.timeLimit(.minutes(2)))
    func consumerDownGoesThroughPrometheusAndAlertmanagerAndComesBack() async throws {
        let started = Date().timeIntervalSince1970
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let alertmanager = try await AlertmanagerServer(webhook: receiver.url)
        // The Redis source is a Redis Cluster, so every panel (cluster ones included) has data.
        let cluster = try await RedisCluster.start(primaries: 3)
        let redis = cluster.nodes[0]
        // A stream with a group and a consumer holding an entry, for the Redis Streams panels.
        let stream = try await offThePool { try cluster.streamWithPendingEntry(on: cluster.nodes[2]) }
        let lookout = try LookoutProcess(arguments: [
            "--redis", "redis://127.0.0.1:\(redis.port)", "--alertmanager", "http://127.0.0.1:\(alertmanager.port)", "--alert-hold", "1h",
            "--config", try Dashboards.contractsConfiguration(), "--stream", "orders.*", "--stream-interval", "1s",
        ])
        let prometheus = try await PrometheusServer(scrapePort: lookout.metricsPort, alertmanagerPort: alertmanager.port, rules: Dashboards.rulesFile)

        // Traffic: orders (subscribed; free text, which its contract counts as violations), nobody
        // (lost) and audit (valid events), from a bounded shell loop; a consumer beating every 500 ms.
        let subscriber = try TestConnection(port: lookout.port)
        _ = try await subscriber.call("SUBSCRIBE", "orders")
        let cli = try executable("redis-cli")
        let publisher = try ChildProcess("/bin/sh", ["-c", """
            for i in $(seq 1 600); do '\(cli)' -p \(lookout.port) publish orders "order $i" >/dev/null; \
            '\(cli)' -p \(lookout.port) publish nobody "lost $i" >/dev/null; \
            '\(cli)' -p \(lookout.port) publish audit '{"kind":"login","id":"'$i'","from":"sso","seq":'$i'}' >/dev/null; sleep 0.2; done
            """])
        defer { publisher.stop(signal: SIGKILL) }
        var worker = try heartbeatProcess(port: lookout.port, name: "billing-worker-3", interval: "500ms")
        defer { worker.stop(signal: SIGKILL) }

        let scraped = await eventually(seconds: 20) {
            (try? prometheus.query(#"lookout_consumer_up{job="lookout", consumer="billing-worker-3"} == 1"#).isEmpty) == false
        }
        #expect(scraped != nil, "Prometheus has Lookout's series")

        // Entries trimmed before the stream's group read them: counted by Lookout, and the
        // critical rule fires in Prometheus (once it has seen the counter before the loss).
        let lost = #"lookout_stream_group_trimmed_unread_entries_total{job="lookout", stream="\#(stream)", group="billing"}"#
        let counted = await eventually(seconds: 20) { (try? prometheus.query(lost + " == 0").isEmpty) == false }
        #expect(counted != nil)
        try await offThePool {
            let client = try TestConnection(port: cluster.nodes[2].port)
            for index in 0..<5 { _ = try client.call("XADD", stream, "*", "n", "\(index)") }
            _ = try client.call("XTRIM", stream, "MAXLEN", "0")
        }
        let trimmedAlert = await eventually(seconds: 30) {
            (try? prometheus.query(#"ALERTS{alertname="LookoutStreamEntriesTrimmedUnread", alertstate="firing", stream="\#(stream)"}"#).count) == 1
        }
        #expect(trimmedAlert != nil, "the trimmed-unread rule fired")
        #expect((try? prometheus.query(lost + " == 5").isEmpty) == false, "five entries lost unread, counted exactly")

        await worker.stop(signal: SIGKILL)
        let firing = { (source: String) in
            receiver.alerts.contains { $0.status == "firing" && $0.name == "LookoutConsumerDown" && $0.consumer == "billing-worker-3"
                && (source == "lookout" ? $0.labels["source"] == "lookout" : $0.labels["job"] == "lookout") }
        }
        let direct = await eventually(seconds: 15) { firing("lookout") }
        #expect(direct != nil, "Lookout's own notifier reached the receiver through Alertmanager")
        // The rule has `for: 30s`; then Alertmanager waits 1 s.
        let ruleFired = await eventually(seconds: 50) { firing("prometheus") }
        #expect(ruleFired != nil, "the LookoutConsumerDown rule fired in Prometheus and Alertmanager delivered it")
        print("end to end: direct alert \(direct ?? -1) s after the kill, Prometheus rule \((direct ?? 0) + (ruleFired ?? -1)) s")
        #expect((try? prometheus.query(#"ALERTS{alertname="LookoutConsumerDown", alertstate="firing"}"#).count) == 1)

        // Every dashboard panel has data in this Prometheus over the test's time range.
        let rangeStart = started
        var empty: [String] = []
        for target in try Dashboards.targets() {
            let expr = Dashboards.concrete(target.expr, consumer: "billing-worker-3", group: "billing")
            if try prometheus.queryRange(expr, start: rangeStart).isEmpty { empty.append("\(target.dashboard) “\(target.panel)” \(target.refID): \(expr)") }
        }
        #expect(empty.isEmpty, "queries without data:\n\(empty.joined(separator: "\n"))")

        // The consumer returns: both alerts resolve.
        worker = try heartbeatProcess(port: lookout.port, name: "billing-worker-3", interval: "500ms")
        let resolved = await eventually(seconds: 30) {
            let resolved = receiver.alerts.filter { $0.status == "resolved" && $0.name == "LookoutConsumerDown" }
            return resolved.contains { $0.labels["source"] == "lookout" } && resolved.contains { $0.labels["job"] == "lookout" }
        }
        #expect(resolved != nil, "the alert resolved through both paths")
        print("end to end: whole test \(Int(Date().timeIntervalSince1970 - started)) s")
    }
}
