#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import LookoutTestSupport

/// The dashboards and rules stay in step with what Lookout exports: every metric they
/// name is in a live scrape, every expression parses, every panel has what Grafana needs.
@Suite struct DashboardTests {
    /// Series that are not Lookout's: Prometheus's own.
    static let prometheusSeries: Set<String> = ["up", "ALERTS", "ALERTS_FOR_STATE"]

    /// A Lookout with every kind of series present: relay and a Redis Cluster source, a notifier,
    /// a consumer, traffic on a subscribed and an unsubscribed channel, contracted channels; then
    /// a member of an HA group on the same cluster (its scrape appended).
    static func liveScrape() async throws -> String {
        // A Redis Cluster as the Redis source, so the cluster series are there too.
        let cluster = try await RedisCluster.start(primaries: 3)
        let lookout = try await InProcessLookout(arguments: ["--redis", "redis://127.0.0.1:\(cluster.nodes[0].port)", "--alertmanager", "http://127.0.0.1:9/",
                                                             "--config", try Dashboards.contractsConfiguration(), "--infer-shapes"])
        let subscriber = try TestConnection(port: lookout.port)
        _ = try await subscriber.call("SUBSCRIBE", "orders")
        let publisher = try TestConnection(port: lookout.port)
        _ = try await publisher.call("PUBLISH", "lookout:heartbeat", #"{"v":1,"consumer":"w1","group":"billing","interval_ms":1000}"#)
        _ = try await publisher.call("PUBLISH", "orders", "o")
        _ = try await publisher.call("PUBLISH", "nobody", "x")
        _ = try await publisher.call("PUBLISH", "audit", #"{"kind":"login","id":"1","from":"sso","seq":1}"#)
        var body = ""
        let complete = await eventually(seconds: 10) {
            body = (try? await lookout.get("/metrics").body) ?? ""
            return body.contains("lookout_consumer_up{") && body.contains("lookout_channel_delivery_latency_seconds_bucket{")
                && body.contains("lookout_probe_roundtrip_seconds_bucket{") && body.contains("lookout_store_flush_duration_seconds_bucket")
                && body.contains("lookout_cluster_state_ok{") && body.contains("lookout_channel_event_types_total{")
                && body.contains("lookout_channel_invalid_messages_total{") && body.contains("lookout_channel_shape_changes_total{")
        }
        #expect(complete != nil, "the scrape has consumer, latency, probe and store series")
        try await lookout.stop()
        // An instance of an HA group on the same cluster, for the lease's series (its keys' slot
        // lives on one primary: the claim follows MOVED there).
        // It watches a stream too, with a group and a consumer holding an entry, for the streams' series.
        try await offThePool { try cluster.streamWithPendingEntry(on: cluster.nodes[1]) }
        let member = try await InProcessLookout(arguments: ["--no-relay", "--redis", "redis://127.0.0.1:\(cluster.nodes[0].port)", "--no-db",
                                                            "--ha-group", "dashboards", "--stream", "orders.*", "--stream-interval", "200ms"])
        var memberBody = ""
        let leads = await eventually(seconds: 15) {
            memberBody = (try? await member.get("/metrics").body) ?? ""
            return memberBody.contains(#"lookout_ha_leader{group="dashboards"} 1"#) && memberBody.contains("lookout_stream_consumer_dead{")
        }
        #expect(leads != nil, "an HA instance on a Redis Cluster holds its group's lease and reads its streams")
        try await member.stop()
        return body + memberBody
    }

    /// Names in an exposition: `# TYPE` families and every sample's name.
    static func exportedNames(_ exposition: String) -> Set<String> {
        Set(exposition.split(separator: "\n").compactMap { line -> String? in
            if line.hasPrefix("# TYPE ") { return line.split(separator: " ").dropFirst(2).first.map(String.init) }
            if line.hasPrefix("#") { return nil }
            return line.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init)
        })
    }

    @Test func everyMetricInDashboardsAndRulesIsExported() async throws {
        let exported = await Self.exportedNames(try Self.liveScrape())
        let expressions = try Dashboards.targets().map { ("\($0.dashboard) “\($0.panel)” \($0.refID)", $0.expr) }
            + Dashboards.ruleExpressions().map { ("alerts.yml", $0) }
        #expect(expressions.count > 40)
        var checked: Set<String> = []
        for (place, expr) in expressions {
            for name in Dashboards.metricNames(in: expr) where !Self.prometheusSeries.contains(name) {
                checked.insert(name)
                let isExported = exported.contains(name)
                #expect(isExported, "\(place) uses \(name), which lookout serve does not export")
            }
        }
        print("dashboards and rules use \(checked.count) Lookout metric names, all exported")
        #expect(checked.count >= 20)
    }

    @Test func theNameExtractionFindsMetricsNotLabels() {
        let names = Dashboards.metricNames(in: #"histogram_quantile(0.99, sum by (channel, le) (rate(lookout_a_bucket{job=~"$job", x="y z"}[$__rate_interval]))) / on (channel) group_left lookout_b and time() - up{job="a"}"#)
        #expect(names == ["lookout_a_bucket", "lookout_b", "up"])
    }

    @Test func everyExpressionParses() async throws {
        let targets = try Dashboards.targets()
        var rules = "groups:\n  - name: dashboards\n    rules:\n"
        for (index, target) in targets.enumerated() {
            let expr = Dashboards.concrete(target.expr).replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            rules += "      - record: dashboard:expr:\(index)\n        expr: \"\(expr)\"\n"
        }
        let file = NSTemporaryDirectory() + "lookout-dashboard-rules-\(getpid()).yml"
        try rules.write(toFile: file, atomically: true, encoding: .utf8)
        defer { unlink(file) }
        let result = try await runCommand(try executable("promtool"), ["check", "rules", file])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS: \(targets.count) rules found"))
    }

    @Test func dashboardsHaveWhatGrafanaNeeds() async throws {
        let dashboards = try Dashboards.all()
        #expect(dashboards.map(\.name) == ["lookout-consumer.json", "lookout-overview.json"])
        for (name, json) in dashboards {
            #expect((json["uid"] as? String)?.isEmpty == false, "\(name): uid")
            #expect((json["title"] as? String)?.isEmpty == false, "\(name): title")
            #expect((json["schemaVersion"] as? Int ?? 0) >= 36, "\(name): current schema")
            let variables = (json["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
            let byName = Dictionary(uniqueKeysWithValues: variables.compactMap { variable in (variable["name"] as? String).map { ($0, variable) } })
            #expect(byName["datasource"]?["type"] as? String == "datasource" && byName["datasource"]?["query"] as? String == "prometheus",
                    "\(name): a datasource variable")
            #expect(byName["job"] != nil && byName["instance"] != nil, "\(name): job and instance variables")
            // No hard-coded datasource: every reference is the variable (or Grafana's built-in annotations).
            let text = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
            let uids = Set(text.matches(of: /"uid":"([^"]*)"/).map { String($0.output.1) })
            #expect(uids.subtracting(["${datasource}", "-- Grafana --", json["uid"] as? String ?? ""]).isEmpty, "\(name): datasource uids \(uids)")
            var ids: Set<Int> = []
            for panel in Dashboards.panels(json) {
                let title = panel["title"] as? String ?? ""
                #expect(!title.isEmpty, "\(name): a panel without a title")
                let unit = ((panel["fieldConfig"] as? [String: Any])?["defaults"] as? [String: Any])?["unit"] as? String
                #expect(unit?.isEmpty == false, "\(name) “\(title)”: no unit")
                #expect(panel["gridPos"] is [String: Any], "\(name) “\(title)”: no gridPos")
                if let id = panel["id"] as? Int { #expect(ids.insert(id).inserted, "\(name): panel id \(id) twice") }
                let targets = panel["targets"] as? [[String: Any]] ?? []
                #expect(!targets.isEmpty, "\(name) “\(title)”: no query")
                for target in targets {
                    let expr = target["expr"] as? String ?? ""
                    #expect(!expr.isEmpty, "\(name) “\(title)”: empty query")
                    if expr.contains("rate(") || expr.contains("increase(") {
                        #expect(!expr.contains(/\[\d+[smhd]\]/) && expr.contains("[$__rate_interval]"), "\(name) “\(title)”: \(expr)")
                    }
                }
            }
        }
    }
}
