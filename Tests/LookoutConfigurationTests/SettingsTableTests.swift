import ArgumentParser
import Foundation
import LookoutCore
import Relay
import Testing

@testable import LookoutConfiguration

/// The table of settings is the one declaration: the file's keys, `config example`,
/// `--print-config` and the README's reference come from it, and these tests catch a setting
/// declared in one place and not the others.
@Suite struct SettingsTableTests {
    private static let rich = """
        relay:
          address: 0.0.0.0:7000
          max_clients: 50
          client_output_buffer_limit: 1mb 256kb 5
          proto_max_bulk_len: 1mb
          tcp_keepalive: 0
          protected_mode: false
          tls:
            address: 127.0.0.1:7001
            cert: /etc/relay.crt
            key: /etc/relay.key
            ca: /etc/ca.crt
            auth_clients: optional
            only: true
        redis:
          urls: [redis://cache:6380, rediss://10.0.0.1:6379]
          link_timeout: 90s
          watch: ["orders.*"]
          tls: {ca: /etc/redis-ca.crt, insecure: true}
        metrics: {address: "[::1]:9100", auth: basic:/etc/lookout/users, consumer_series: unhealthy}
        channels:
          max_tracked: 10
          groups: [{pattern: "user:*:events", label: user-events}, {pattern: "jobs.*"}]
          exclude: []
          timestamp_field: ts
        consumers:
          heartbeat_channel: hb
          late_after: 2
          down_after: 4.5
          stall_window: 1500ms
          lag_window: 3h
          reconnect_grace: 1d
          patterns: ["jobs.*"]
          detector: phi
          phi_threshold: 12
        alerts: {webhooks: ["http://127.0.0.1:5001/hook"], alertmanagers: ["http://am:9093"], channel: "", hold: 0.5s}
        store:
          path: ""
          flush_interval: 2s
          tiers: [{resolution: 1s, retention: 2h}, {resolution: 1m, retention: 7d}]
          max_size: 64mb
        log_level: debug
        contracts:
          - channels: "orders.*"
            format: cloudevents
            fields: {sequence: seq, id: eventid}
            schemas: {order.created: schemas/created.json}
            require_schema: false
            sequence: true
            duplicates: 10m
        """

    @Test func theExampleIsEveryDefaultAndReadsBackAsTheDefaults() throws {
        let defaults = ServeConfiguration()
        let example = ConfigurationDocument(defaults).render()
        let parsed = try ServeConfiguration.parse(yaml: example)
        #expect(ConfigurationDocument(parsed).render() == example)
        for setting in ServeConfiguration.settings where setting.value(defaults) != nil {
            #expect(example.contains("\n" + String(repeating: "  ", count: setting.key.split(separator: ".").count - 1) + setting.name + ":"),
                    "\(setting.key) has a default but is not in the example")
        }
        // Settings with no default are there, commented out, with their example.
        #expect(example.contains("# password: s3cret"))
        #expect(example.contains("  # tls:\n    # Address of the relay's TLS listener"))
    }

    @Test func aResolvedConfigurationIsWrittenSoThatItReadsBackTheSame() throws {
        let first = try ServeConfiguration.parse(yaml: Self.rich)
        let written = ConfigurationDocument(first).render()
        let second = try ServeConfiguration.parse(yaml: written)
        #expect(ConfigurationDocument(second).render() == written)
        #expect(second.relay.tls?.only == true && second.relay.tls?.clientAuthentication == .optional)
        #expect(second.redisTLS.verify == false && second.redisWatch == ["orders.*"])
        #expect(second.detector.phiAccrual?.threshold == 12 && second.detector.stallWindow == 1.5 && second.detector.reconnectGrace == 86_400)
        #expect(second.alertChannel == nil && second.alertHold == 0.5 && second.storePath == nil)
        #expect(second.storeTiers.tiers.map(\.retention) == [7200, 7 * 86_400])
        #expect(second.contracts.first?.setting?.duplicates == 600 && second.contracts.first?.setting?.fields.id == "eventid")
        #expect(written.contains("groups:\n    - pattern: \"user:*:events\"\n      label: \"user-events\"\n    - pattern: \"jobs.*\""))
    }

    @Test func secretsAreMasked() throws {
        var configuration = try ServeConfiguration.parse(yaml: """
            relay:
              password: relay-secret
            redis: ["redis://watcher:redis-secret@cache:6380"]
            """)
        var written = ConfigurationDocument(configuration).render()
        #expect(!written.contains("relay-secret") && !written.contains("redis-secret"))
        #expect(written.contains("password: \"********\"") && written.contains("\"redis://watcher:********@cache:6380\""))
        configuration = try ServeConfiguration.parse(yaml: """
            relay:
              users: [{name: orders, password: user-secret, channels: ["orders.*"]}]
            """)
        written = ConfigurationDocument(configuration).render()
        #expect(!written.contains("user-secret") && written.contains("name: \"orders\""))
    }

    @Test func theFilesKeysAreTheTables() throws {
        #expect(ServeConfiguration.allowedKeys(under: "") == ["relay", "redis", "metrics", "channels", "consumers", "alerts", "ha", "streams", "store", "log_level", "contracts"])
        #expect(ServeConfiguration.allowedKeys(under: "relay.tls") == ["address", "cert", "key", "ca", "auth_clients", "only"])
        #expect(ServeConfiguration.allowedKeys(under: "contracts[].fields") == ["id", "source", "sequence", "type", "version"])
        #expect(ServeConfiguration.allowedKeys(under: "store.tiers[]") == ["resolution", "retention"])
        #expect(throws: ConfigurationError(key: "relay.tls.certificate",
                                           reason: "unknown key (expected one of: address, auth_clients, ca, cert, key, only)")) {
            try ServeConfiguration.parse(yaml: "relay:\n  tls:\n    certificate: x\n")
        }
    }

    /// `serve`'s own flags are about the run; every other flag is a setting's, listed with its
    /// help from the table and read by the setting.
    @Test func theFlagsAreTheTables() throws {
        let help = ServeOptions.helpMessage(columns: 400)
        let own = Set(help.matches(of: /--[a-z][a-z0-9-]+/).map { String($0.output) })
        #expect(own == ["--config", "--demo", "--help", "--no-db"], "serve's flags besides the settings': \(own)")
        let listed = ServeOptions.flagsHelp
        for setting in ServeConfiguration.settings {
            guard let flag = setting.flag else { continue }
            #expect(listed.contains("\n  \(flag)"), "\(flag) is not in serve's help")
            #expect(try ServeConfiguration.settingFlags(setting.flagSets == nil ? [flag, "x"] : [flag])[flag] != nil)
        }
    }

    /// A flag's help is written from the table: its summary, key and default cannot drift from
    /// the file's.
    @Test func aFlagsHelpIsTheTables() {
        let help = ServeOptions.flagsHelp.replacing(/\n {8}(?=[^ ])/, with: " ")
        #expect(help.contains("  --max-clients <max-clients> Most clients connected at once. (relay.max_clients in the file; default 10000)"))
        #expect(help.contains("(relay.password in the file; also LOOKOUT_RELAY_PASSWORD)"))
        #expect(help.contains("(repeatable; redis.urls in the file; also LOOKOUT_REDIS_PASSWORD)"))
        #expect(help.contains("(consumers.stall_window in the file; default 1m)"))
        #expect(help.contains("  --no-relay Run the embedded relay"), "a switch takes no value")
        #expect(ServeOptions.flagsHelp.split(separator: "\n").allSatisfy { $0.count <= 79 })
    }

    @Test func theREADMEsReferenceIsTheTable() throws {
        let readme = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let begin = "<!-- settings: lookout config reference -->\n", end = "<!-- settings end -->"
        let start = try #require(text.range(of: begin)), stop = try #require(text.range(of: end))
        #expect(String(text[start.upperBound..<stop.lowerBound]) == ConfigurationDocument.markdownReference(),
                "the README's configuration reference differs from the table: paste `lookout config reference` between its markers")
    }
}
