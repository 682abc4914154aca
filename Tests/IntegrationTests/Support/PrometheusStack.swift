#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LookoutTestSupport

/// A real Prometheus (Debian's `prometheus`) on a free loopback port, scraping one target every
/// second with `alerts.yml` loaded, evaluating every second, sending alerts to an Alertmanager.
final class PrometheusServer {
    let port: Int
    let child: ChildProcess
    private let directory: String

    /// - Parameter scrapeAuthorization: the scrape job's credentials, as YAML lines of the job
    ///   (`authorization:` or `basic_auth:`), for a Lookout started with `--metrics-auth`.
    init(scrapePort: Int, alertmanagerPort: Int, rules: String, scrapeAuthorization: [String] = []) async throws {
        directory = NSTemporaryDirectory() + "lookout-prometheus-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let configuration = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files: ["\(rules)"]
            alerting:
              alertmanagers:
                - static_configs:
                    - targets: ["127.0.0.1:\(alertmanagerPort)"]
            scrape_configs:
              - job_name: lookout
                static_configs:
                  - targets: ["127.0.0.1:\(scrapePort)"]
            """ + scrapeAuthorization.map { "\n    " + $0 }.joined()
        try configuration.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        let directory = directory
        (port, child) = try await startOnFreePort { port in
            try ChildProcess(try executable("prometheus"), [
                "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ])
        }
    }

    deinit {
        child.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `GET /api/v1/<path>?<parameters>`; the `data` object of a successful answer.
    func api(_ path: String, _ parameters: [(String, String)]) throws -> [String: Any] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let query = parameters.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
        let (status, body) = try httpGet(port: port, path: "/api/v1/\(path)?\(query)")
        guard status == 200, let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let data = json["data"] as? [String: Any] else {
            throw TestFailure("Prometheus \(path) answered \(status): \(body.prefix(300))")
        }
        return data
    }

    /// The series of an instant query.
    func query(_ expr: String) throws -> [[String: Any]] {
        try api("query", [("query", expr)])["result"] as? [[String: Any]] ?? []
    }

    /// The series of a range query from `start` to now, one point per second.
    func queryRange(_ expr: String, start: Double) throws -> [[String: Any]] {
        let now = Date().timeIntervalSince1970
        return try api("query_range", [("query", expr), ("start", String(format: "%.3f", start)), ("end", String(format: "%.3f", now)),
                                       ("step", "1")])["result"] as? [[String: Any]] ?? []
    }
}

/// A real Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port, clustering
/// off, sending every group at once (and its resolution) to one webhook.
final class AlertmanagerServer {
    let port: Int
    let child: ChildProcess
    private let directory: String

    init(webhook: String) async throws {
        directory = NSTemporaryDirectory() + "lookout-alertmanager-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let configuration = """
            route:
              receiver: test
              group_by: [alertname, source, consumer, group]
              group_wait: 1s
              group_interval: 1s
              repeat_interval: 1h
            receivers:
              - name: test
                webhook_configs:
                  - url: "\(webhook)"
                    send_resolved: true
            """
        try configuration.write(toFile: directory + "/alertmanager.yml", atomically: true, encoding: .utf8)
        let directory = directory
        (port, child) = try await startOnFreePort { port in
            try ChildProcess(try executable("prometheus-alertmanager"), [
                "--config.file=\(directory)/alertmanager.yml", "--storage.path=\(directory)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address=", "--log.level=warn",
            ])
        }
    }

    deinit {
        child.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
