import ArgumentParser
import LookoutCore
import PubSubCore
import RESP
import Relay
import Testing

@testable import LookoutConfiguration

@Suite struct ServeConfigurationTests {
    @Test func readsEverySetting() throws {
        let settings = try ServeConfiguration.parse(yaml: """
            relay:
              enabled: false
              address: 0.0.0.0:7000
              password: s3cret
              max_clients: 50
              client_output_buffer_limit: 1mb 256kb 5
              proto_max_bulk_len: 1mb
            redis:
              - redis://:pw@127.0.0.1:6379
              - redis://cache:6380
            metrics:
              address: "[::1]:9100"
            channels:
              max_tracked: 10
              groups:
                - pattern: "user:*:events"
                  label: user-events
                - pattern: "orders.*"
              exclude: []
              timestamp_field: ts
            log_level: debug
            """)
        #expect(!settings.relayEnabled)
        #expect(settings.relay.host == "0.0.0.0" && settings.relay.port == 7000)
        #expect(settings.relay.password == "s3cret")
        #expect(settings.relay.maxClients == 50)
        #expect(settings.relay.outputBufferLimits == .init(hardBytes: 1 << 20, softBytes: 256 << 10, softSeconds: 5))
        #expect(settings.relay.requestLimits.maxBulkLength == 1 << 20)
        #expect(settings.redis.map(\.description) == ["redis://127.0.0.1:6379", "redis://cache:6380"])
        #expect(settings.redis.first?.password == "pw")
        #expect(settings.metricsHost == "::1" && settings.metricsPort == 9100)
        #expect(settings.grouping.maxTrackedChannels == 10)
        #expect(settings.grouping.rules == [.init(pattern: "user:*:events", label: "user-events"), .init(pattern: "orders.*")])
        #expect(settings.grouping.exclusions.isEmpty)
        #expect(settings.timestampField == "ts")
        #expect(settings.logLevel == "debug")
    }

    @Test func consumerSettings() throws {
        let settings = try ServeConfiguration.parse(yaml: """
            consumers:
              heartbeat_channel: hb
              late_after: 2
              down_after: 4.5
              stall_window: 2m
              lag_window: 5m
              reconnect_grace: 1500ms
              detector: phi
              phi_threshold: 10
              patterns: ["jobs.*", "mail.[ab]"]
            """)
        #expect(settings.consumedPatterns == ["jobs.*", "mail.[ab]"])
        #expect(try ServeConfiguration.parse(yaml: "metrics:\n  consumer_series: unhealthy").consumerSeries == .unhealthy)
        #expect(ServeConfiguration().consumerSeries == .auto)
        #expect(try ServeConfiguration.resolve(options: try ServeOptions.parse(["--consumer-series", "none"])).consumerSeries == .none)
        #expect(throws: ConfigurationError(key: "--consumer-series", reason: "'some' is not one of auto, all, unhealthy, none")) {
            try ServeConfiguration.resolve(options: try ServeOptions.parse(["--consumer-series", "some"]))
        }
        #expect(ServeConfiguration().consumedPatterns.isEmpty)
        let flagged = try ServeConfiguration.resolve(options: try ServeOptions.parse(["--consumer-pattern", "jobs.*", "--consumer-pattern", "x?"]))
        #expect(flagged.consumedPatterns == ["jobs.*", "x?"])
        #expect(throws: ConfigurationError(key: "--consumer-pattern", reason: "must not be empty")) {
            try ServeConfiguration.resolve(options: try ServeOptions.parse(["--consumer-pattern", ""]))
        }
        #expect(settings.detector.lagWindow == 300 && settings.detector.reconnectGrace == 1.5)
        #expect(try ServeConfiguration.parse(yaml: "log_level: info").detector.lagWindow == 120, "the lag window defaults to 2 minutes")
        #expect(try ServeConfiguration.parse(yaml: "log_level: info").detector.reconnectGrace == 5)
        #expect(settings.heartbeatChannel == "hb")
        #expect(settings.detector.lateAfter == 2 && settings.detector.downAfter == 4.5)
        #expect(settings.detector.stallWindow == 120)
        #expect(settings.detector.phiAccrual?.threshold == 10)
    }

    @Test func storeSettings() throws {
        let settings = try ServeConfiguration.parse(yaml: """
            store:
              path: /var/lib/lookout/history.db
              flush_interval: 500ms
              raw_retention: 6h
              rollup_retention: 7d
            """)
        #expect(settings.storePath == "/var/lib/lookout/history.db")
        #expect(settings.storeFlushInterval == 0.5)
        // The older names set the finest and the coarsest tier's retention (and the events').
        let retentions: [Double] = [21_600, 86_400, 604_800]
        #expect(settings.storeTiers.tiers.map(\.retention) == retentions && settings.eventRetention == 604_800)
        #expect(try ServeConfiguration.parse(yaml: "store:\n  path: \"\"").storePath == nil)
        #expect(ServeConfiguration().storePath == "lookout.db")
        #expect(ServeConfiguration().storeTiers == .default && ServeConfiguration().storeMaxSize == 1 << 30)

        let tiered = try ServeConfiguration.parse(yaml: """
            store:
              tiers:
                - {resolution: 2s, retention: 2h}
                - {resolution: 1m, retention: 90d}
              max_size: 200mb
            """)
        #expect(tiered.storeTiers.tiers == [.init(resolution: 2, retention: 7200), .init(resolution: 60, retention: 90 * 86400)])
        #expect(tiered.eventRetention == 90 * 86400 && tiered.storeMaxSize == 200 << 20)
    }

    @Test func badStoreTiersAreKeyedErrors() {
        for (yaml, key, reason) in [
            ("store:\n  tiers: []", "store.tiers", "at least one tier"),
            ("store:\n  tiers:\n    - {resolution: 10s, retention: 1h}\n    - {resolution: 15s, retention: 1d}", "store.tiers",
             "whole multiple of the one before (10s)"),
            ("store:\n  tiers:\n    - {resolution: 1s, retention: 1d}\n    - {resolution: 10s, retention: 1h}", "store.tiers", "at least as long"),
            ("store:\n  tiers:\n    - {resolution: 1s}", "store.tiers[0].retention", "missing"),
            ("store:\n  tiers:\n    - {resolution: 1s, retention: 1h, rows: 3}", "store.tiers[0].rows", "unknown key"),
            ("store:\n  max_size: 1mb", "store.max_size", "at least 16mb"),
            ("store:\n  tiers:\n    - {resolution: 500ms, retention: 1h}", "store.tiers[0].resolution", "whole number of seconds"),
            ("store:\n  rollup_retention: 2h", "store.rollup_retention", "at least as long"),
        ] {
            #expect { try ServeConfiguration.parse(yaml: yaml) } throws: { error in
                guard let error = error as? ConfigurationError else { return false }
                return error.key == key && error.reason.contains(reason)
            }
        }
    }

    @Test func redisAsAMappingCarriesTheLinkSettings() throws {
        let settings = try ServeConfiguration.parse(yaml: "redis:\n  urls:\n    - redis://127.0.0.1:7000\n  link_timeout: 3s\nrelay:\n  tcp_keepalive: 60\n")
        #expect(settings.redis.map(\.port) == [7000])
        #expect(settings.redisLinkTimeout == 3)
        #expect(settings.relay.tcpKeepalive == 60)
        let list = try ServeConfiguration.parse(yaml: "redis:\n  - redis://127.0.0.1:7001\n")
        #expect(list.redis.map(\.port) == [7001] && list.redisLinkTimeout == 5 && list.relay.tcpKeepalive == 300, "defaults")
    }

    @Test func theWatchComesFromTheFileOrTheFlagsAndNeedsARedisSource() throws {
        #expect(ServeConfiguration().redisWatch == nil, "every channel by default")
        let file = try ServeConfiguration.parse(yaml: "redis:\n  urls: [redis://127.0.0.1:7000]\n  watch: [\"orders.*\", \"jobs.?\"]\n")
        #expect(file.redisWatch == ["orders.*", "jobs.?"])
        let flagged = try ServeConfiguration.resolve(options: try ServeOptions.parse([
            "--no-relay", "--redis", "redis://127.0.0.1:7000", "--watch", "a.*", "--watch", "b\\[x\\]",
        ]))
        #expect(flagged.redisWatch == ["a.*", "b\\[x\\]"])
        for (glob, reason) in [("", "an empty pattern matches no channel"), ("orders.[ab", "'orders.[ab' opens a [ class it never closes"),
                               ("x\\", "'x\\' ends with a lone \\")] {
            #expect(throws: ConfigurationError(key: "--watch", reason: reason)) {
                try ServeConfiguration.resolve(options: try ServeOptions.parse(["--no-relay", "--redis", "redis://127.0.0.1:7000", "--watch", glob]))
            }
        }
        #expect(throws: ConfigurationError(key: "--watch", reason: "watches Redis sources; give a --redis URL (the relay sees every channel)")) {
            try ServeConfiguration.resolve(options: try ServeOptions.parse(["--watch", "orders.*"]))
        }
    }

    @Test func anEmptyFileMeansDefaults() throws {
        let settings = try ServeConfiguration.parse(yaml: "")
        #expect(settings.relayEnabled && settings.relay.port == 6380 && settings.metricsPort == 9480)
    }

    @Test(arguments: [
        ("relay:\n  port: 1", "relay.port", "unknown key"),
        ("relay:\n  address: nowhere", "relay.address", "is not host:port"),
        ("relay:\n  max_clients: -3", "relay.max_clients", "greater than 0"),
        ("relay:\n  max_clients: many", "relay.max_clients", "whole number"),
        ("relay:\n  enabled: sometimes", "relay.enabled", "true or false"),
        ("relay:\n  client_output_buffer_limit: 32mb", "relay.client_output_buffer_limit", "hard soft seconds"),
        ("redis: redis://x", "redis", "expected a list"),
        ("store:\n  raw_retention: forever", "store.raw_retention", "is not a duration"),
        ("store:\n  keep: 1d", "store.keep", "unknown key"),
        ("redis:\n  - http://x", "redis[0]", "is not redis://"),
        ("channels:\n  groups:\n    - label: x", "channels.groups[0].pattern", "required"),
        ("log_level: loud", "log_level", "is not one of"),
        ("consumers:\n  detector: magic", "consumers.detector", "is not fixed or phi"),
        ("consumers:\n  late_after: 4", "consumers.down_after", "greater than late_after"),
        ("consumers:\n  stall_window: soon", "consumers.stall_window", "is not a duration"),
        ("consumers:\n  reconnect_grace: [1]", "consumers.reconnect_grace", "expected a string"),
        ("consumers:\n  patterns: jobs.*", "consumers.patterns", "expected a list"),
        // Found by the config fuzzer: a YAML 1.1 base-60 integer that overflowed inside Yams (a trap).
        ("+17171414171714147:47:4", "(file)", "expected a mapping"),
        ("relay:\n  max_clients: 1:20", "relay.max_clients", ""),
        ("metrics:\n  consumer_series: some", "metrics.consumer_series", "is not one of auto, all, unhealthy, none"),
        ("consumers:\n  patterns: [\"\"]", "consumers.patterns[0]", "must not be empty"),
        ("redis:\n  urls: [redis://127.0.0.1:7000]\n  watch: []", "redis.watch", "an empty watch sees nothing"),
        ("redis:\n  urls: [redis://127.0.0.1:7000]\n  watch: [\"a[\"]", "redis.watch[0]", "opens a [ class it never closes"),
        ("redis:\n  urls: [redis://127.0.0.1:7000]\n  watch: orders.*", "redis.watch", "expected a list"),
        ("relay: [1, 2", "(file)", "not valid YAML"),
        ("- just\n- a list", "(file)", "mapping"),
        // Found by `make fuzz`: a key that is not a scalar trapped inside Yams's constructor.
        ("channels:\n  groups:\n    - pattern: x\n?     label: y\n", "(file)", "plain name"),
        ("channels:\n  ? [a, b]\n  : c", "channels", "plain name"),
        ("{[1]: x}", "(file)", "plain name"),
        ("relay:\n  max_clients: 1\n  max_clients: 2", "(file)", "duplicated key(s): 'max_clients'"),
        ("relay:\n  true: 1\n  \"true\": 2", "relay.true", "given twice"),
        ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            + "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]", "(file)", "more than 100000 values"),
        ("relay:\n  tcp_keepalive: -1", "relay.tcp_keepalive", "0 or more"),
        ("redis:\n  urls: [redis://a:1]\n  link_timeout: never", "redis.link_timeout", "is not a duration"),
        ("redis:\n  url: redis://a:1", "redis.url", "unknown key"),
        ("redis:\n  urls: []\n  link_timeout: 500ms", "redis.link_timeout", "at least 1s"),
    ])
    func errorsNameTheKeyAndTheReason(yaml: String, key: String, reason: String) {
        do {
            _ = try ServeConfiguration.parse(yaml: yaml)
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.key == key)
            #expect(error.reason.contains(reason), "\(error)")
        }
    }
}

/// `lookout serve`'s settings: the file, then the flags, then the environment, in one pure function.
@Suite struct ConfigurationResolutionTests {
    @Test func anHAGroupComesFromTheFileOrTheFlags() throws {
        #expect(ServeConfiguration().haGroup == nil && ServeConfiguration().haLease == 10, "on its own by default; a 10 s lease")
        let yaml = "relay: {enabled: false}\nredis: {urls: [redis://127.0.0.1:7000]}\nha:\n  group: lookout-prod\n  lease: 15s\n  instance: lookout-a\n"
        let file = try resolve([], file: yaml)
        #expect(file.haGroup == "lookout-prod" && file.haLease == 15 && file.haInstance == "lookout-a")
        let flagged = try resolve(["--ha-lease", "4s", "--ha-instance", "b"], file: yaml)
        #expect(flagged.haGroup == "lookout-prod" && flagged.haLease == 4 && flagged.haInstance == "b")
        #expect(throws: ConfigurationError(key: "ha.lease", reason: "must be 1s or more")) {
            try ServeConfiguration.parse(yaml: "ha: {group: pair, lease: 500ms}")
        }
        #expect(throws: ConfigurationError(key: "ha.group", reason: "'' is not a group name: 1 to 64 letters, digits, '.', '_' or '-'")) {
            try ServeConfiguration.parse(yaml: "ha: {group: \"\"}")
        }
    }

    private func resolve(_ flags: [String], file: String? = nil, environment: [String: String] = [:]) throws -> ServeConfiguration {
        try ServeConfiguration.resolve(file: file.map { ("lookout.yml", $0) }, options: try ServeOptions.parse(flags), environment: environment)
    }

    @Test func flagsWinOverTheFile() throws {
        let settings = try resolve(["--max-clients", "7", "--redis", "redis://127.0.0.1:7001", "--stall-window", "90s"], file: """
            relay:
              max_clients: 50
              password: fromfile
            redis:
              - redis://127.0.0.1:7000
            consumers:
              stall_window: 30s
            """)
        #expect(settings.relay.maxClients == 7)
        #expect(settings.relay.password == "fromfile")
        #expect(settings.redis.map(\.port) == [7000, 7001], "--redis adds to the file's sources")
        #expect(settings.detector.stallWindow == 90)
        let progress = try resolve(["--lag-window", "4s", "--reconnect-grace", "20s"], file: "consumers:\n  lag_window: 1m\n")
        #expect(progress.detector.lagWindow == 4 && progress.detector.reconnectGrace == 20)
        let linked = try resolve(["--redis-link-timeout", "2s", "--tcp-keepalive", "0"], file: "redis:\n  urls: []\n  link_timeout: 9s\n")
        #expect(linked.redisLinkTimeout == 2 && linked.relay.tcpKeepalive == 0)
        #expect(throws: ConfigurationError.self) { try resolve(["--redis-link-timeout", "500ms"]) }
        #expect(throws: ConfigurationError.self) { try resolve(["--tcp-keepalive=-1"]) }
        let store = try resolve(["--db-max-size", "256mb", "--raw-retention", "2h"], file: "store:\n  max_size: 2gb\n  raw_retention: 30m\n")
        #expect(store.storeMaxSize == 256 << 20 && store.storeTiers.finest.retention == 7200)
        #expect { try resolve(["--db-max-size", "1mb"]) } throws: { ($0 as? ConfigurationError)?.key == "--db-max-size" }
        #expect { try resolve(["--rollup-retention", "1h"]) } throws: { ($0 as? ConfigurationError)?.key == "--rollup-retention" }
    }

    @Test func protectedModeRefusesAnOpenRelayBeyondLoopback() throws {
        for address in ["0.0.0.0:6380", "[::]:6380", "10.1.2.3:6380", "relay.example.com:6380"] {
            #expect { try resolve(["--relay", address]) } throws: { error in
                guard let error = error as? ConfigurationError else { return false }
                return error.key == "protected mode" && error.reason.contains("with no password")
            }
        }
        for address in ["127.0.0.1:6380", "127.3.4.5:0", "[::1]:6380", "localhost:6380"] {
            #expect(try resolve(["--relay", address]).relay.protectedMode, "\(address) is loopback")
        }
        #expect(try resolve(["--relay", "0.0.0.0:6380", "--relay-password", "s3cret"]).relay.host == "0.0.0.0")
        #expect(try resolve(["--relay", "0.0.0.0:6380"], environment: ["LOOKOUT_RELAY_PASSWORD": "s3cret"]).relay.password == "s3cret")
        #expect(try resolve(["--relay", "0.0.0.0:6380", "--no-protected-mode"]).relay.protectedMode == false)
        #expect(try resolve([], file: "relay:\n  address: 0.0.0.0:6380\n  protected_mode: false\n").relay.host == "0.0.0.0")
        #expect(try resolve(["--relay", "0.0.0.0:6380", "--no-relay", "--redis", "redis://127.0.0.1:7000"]).relayEnabled == false,
                "a relay that does not start exposes nothing")
    }

    @Test func relayUsersAreReadWithTheirPasswordsHashedAndConflictsRefused() throws {
        let users = "relay:\n  users:\n    - {name: alice, password: s3cret, channels: [\"orders.*\"]}\n"
            + "    - {name: bob, password_hash: f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7, enabled: false}\n"
        let settings = try resolve([], file: users, environment: ["LOOKOUT_RELAY_PASSWORD": "ignored"])
        #expect(settings.relay.users.map(\.name) == ["alice", "bob"])
        #expect(settings.relay.users[0].channels.patterns == ["orders.*"] && settings.relay.users[1].enabled == false)
        #expect(settings.relay.password == nil, "the environment's password does not apply beside users")
        #expect(try resolve(["--relay", "0.0.0.0:6380"], file: users).relay.host == "0.0.0.0", "users protect the relay")
        #expect { try resolve(["--relay-password", "x"], file: users) } throws: { ($0 as? ConfigurationError)?.key == "--relay-password" }
        for (yaml, key) in [
            ("relay:\n  password: x\n  users:\n    - {name: a, password: b}\n", "relay.password"),
            ("relay:\n  users:\n    - {name: a}\n", "relay.users[0].password"),
            ("relay:\n  users:\n    - {name: a, password: b, password_hash: c}\n", "relay.users[0].password_hash"),
            ("relay:\n  users:\n    - {name: a, password_hash: abc}\n", "relay.users[0].password_hash"),
            ("relay:\n  users:\n    - {name: a, password: b}\n    - {name: a, password: c}\n", "relay.users[1].name"),
            ("relay:\n  users:\n    - {name: \"a b\", password: c}\n", "relay.users[0].name"),
        ] {
            #expect { try ServeConfiguration.parse(yaml: yaml) } throws: { ($0 as? ConfigurationError)?.key == key }
        }
    }

    @Test func tlsSettingsComeFromTheFileAndTheFlagsAndNonsenseIsRefused() throws {
        let file = """
            relay:
              tls: {address: "127.0.0.1:6381", cert: relay.crt, key: relay.key, ca: ca.crt}
            redis:
              urls: ["rediss://127.0.0.1:6390", "redis://127.0.0.1:6379"]
              tls: {ca: redis-ca.crt, cert: client.crt, key: client.key}
            """
        let fromFile = try resolve([], file: file)
        let tls = try #require(fromFile.relay.tls)
        #expect(tls.host == "127.0.0.1" && tls.port == 6381 && tls.certificatePath == "relay.crt" && tls.caPath == "ca.crt")
        #expect(tls.authenticateClients == .yes && !tls.only, "a CA means client certificates are required, as Redis's default")
        #expect(fromFile.redis.map(\.tls) == [RedisTLSSettings(caPath: "redis-ca.crt", certificatePath: "client.crt", keyPath: "client.key"), nil])
        #expect(fromFile.redis[0].description == "rediss://127.0.0.1:6390")

        let flags = try resolve(["--tls-auth-clients", "optional", "--relay-tls-only", "--relay-tls", "127.0.0.2:7443", "--redis-tls-insecure"],
                                file: file)
        #expect(flags.relay.tls?.authenticateClients == .optional && flags.relay.tls?.only == true && flags.relay.tls?.host == "127.0.0.2")
        #expect(flags.redis[0].tls?.verify == false && flags.redis[0].tls?.caPath == "redis-ca.crt")
        #expect(try resolve(["--relay-tls", "127.0.0.1:6381", "--tls-cert", "c", "--tls-key", "k"]).relay.tls?.authenticateClients == .no,
                "no CA: no client certificates asked for")

        // Beyond loopback with no password: only client certificates keep strangers out.
        #expect { try resolve(["--relay-tls", "0.0.0.0:6381", "--tls-cert", "c", "--tls-key", "k", "--relay-tls-only"]) } throws: {
            ($0 as? ConfigurationError)?.reason.contains("0.0.0.0:6381 (TLS)") == true
        }
        #expect(try resolve(["--relay-tls", "0.0.0.0:6381", "--tls-cert", "c", "--tls-key", "k", "--tls-ca", "ca", "--relay-tls-only"])
            .relay.unprotectedExposure == nil)

        for (arguments, key) in [
            (["--relay-tls", "127.0.0.1:6381"], "relay.tls.cert"),
            (["--tls-cert", "c", "--tls-key", "k"], "relay.tls.address"),
            (["--relay-tls", "127.0.0.1:6381", "--tls-cert", "c", "--tls-key", "k", "--tls-auth-clients", "maybe"], "--tls-auth-clients"),
            (["--relay-tls", "127.0.0.1:6381", "--tls-cert", "c", "--tls-key", "k", "--tls-auth-clients", "yes"], "--tls-auth-clients"),
            (["--redis", "redis://127.0.0.1:6379", "--no-relay", "--redis-tls-ca", "ca"], "--redis-tls-ca"),
            (["--redis", "rediss://127.0.0.1:6379", "--no-relay", "--redis-tls-cert", "c"], "--redis-tls-cert"),
        ] {
            #expect { try resolve(arguments) } throws: { ($0 as? ConfigurationError)?.key == key }
        }
        for (yaml, key) in [
            ("relay:\n  tls: {address: \"127.0.0.1:6381\", cert: c}\n", "relay.tls.key"),
            ("relay:\n  tls: {address: \"127.0.0.1:6381\", cert: c, key: k, auth_clients: yes}\n", "relay.tls.auth_clients"),
            ("relay:\n  tls: {address: \"127.0.0.1:6381\", cert: c, key: k, ciphers: all}\n", "relay.tls.ciphers"),
            ("redis:\n  urls: [\"rediss://h:1\"]\n  tls: {verify: false}\n", "redis.tls.verify"),
        ] {
            #expect { try ServeConfiguration.parse(yaml: yaml) } throws: { ($0 as? ConfigurationError)?.key == key }
        }
    }

    @Test func passwordsFallBackToTheEnvironmentInOnePlace() throws {
        let environment = ["LOOKOUT_RELAY_PASSWORD": "relay-secret", "LOOKOUT_REDIS_PASSWORD": "redis-secret"]
        let settings = try resolve(["--redis", "redis://127.0.0.1:7000", "--redis", "redis://:own@127.0.0.1:7001"], environment: environment)
        #expect(settings.relay.password == "relay-secret")
        #expect(settings.redis.map(\.password) == ["redis-secret", "own"], "a URL's own password wins")
        #expect(try resolve(["--relay-password", "flag"], environment: environment).relay.password == "flag")
        #expect(try resolve([]).relay.password == nil)
    }

    /// The settings' flags are read by the table: `--flag value`, `--flag=value`, a switch, a
    /// repeated flag adding to a list (the file's too), the last of a repeated single value.
    @Test func settingFlagsAreReadByTheTable() throws {
        let settings = try resolve(["--max-clients=7", "--tcp-keepalive", "0", "--infer-shapes", "--channel-group", "user:*:events=users",
                                    "--channel-group", "jobs.*", "--relay", "127.0.0.1:1", "--relay", "127.0.0.1:2", "--consumer-pattern", "b.*"],
                                   file: "consumers:\n  patterns: [\"a.*\"]\n")
        #expect(settings.relay.maxClients == 7 && settings.relay.tcpKeepalive == 0 && settings.inferShapes)
        #expect(settings.grouping.rules == [.init(pattern: "user:*:events", label: "users"), .init(pattern: "jobs.*")])
        #expect(settings.relay.port == 2, "the last of a repeated flag wins")
        #expect(settings.consumedPatterns == ["a.*", "b.*"], "a repeated flag adds to the file's list")
        #expect(try resolve(["--relay-password", "--not-a-flag"]).relay.password == "--not-a-flag", "a flag's value is the next argument, whatever it is")
    }

    @Test func ownChannelsFollowTheSettings() throws {
        #expect(try resolve([]).ownChannels == ["lookout:heartbeat", "lookout:probe", "lookout:alerts"])
        #expect(try resolve(["--heartbeat-channel", "hb", "--alert-channel", ""]).ownChannels == ["hb", "lookout:probe"])
    }

    @Test(arguments: [
        (["--max-clients", "0"], "--max-clients", "greater than 0"),
        (["--stall-window", "later"], "--stall-window", "is not a duration"),
        (["--lag-window", "forever"], "--lag-window", "is not a duration"),
        (["--reconnect-grace", "a bit"], "--reconnect-grace", "is not a duration"),
        (["--alert-hold", "x"], "--alert-hold", "is not a duration"),
        (["--redis", "http://x"], "--redis", "is not redis://"),
        (["--no-relay"], "--no-relay", "nothing to watch"),
        (["--demo", "--no-relay", "--redis", "redis://127.0.0.1:1"], "--demo", "needs the embedded relay"),
        (["--log-level", "loud"], "--log-level", "is not one of"),
        (["--channel-group", "=label"], "--channel-group", "required, a glob"),
        (["--max-clent", "5"], "--max-clent", "unknown flag"),
        (["--max-clients"], "--max-clients", "needs a value"),
        (["--no-relay=yes"], "--no-relay", "takes no value"),
        (["--max-clients=many"], "--max-clients", "expected a whole number"),
        (["stray"], "stray", "takes flags only"),
        (["--ha-group", "pair"], "--ha-group", "run it with --no-relay and --redis"),
        (["--no-relay", "--redis", "redis://127.0.0.1:1", "--ha-group", "a{b}"], "--ha-group", "is not a group name"),
        (["--no-relay", "--redis", "redis://127.0.0.1:1", "--ha-group", "pair", "--ha-lease", "500ms"], "--ha-lease", "must be 1s or more"),
        (["--no-relay", "--redis", "redis://127.0.0.1:1", "--ha-instance", "a"], "--ha-instance", "give --ha-group too"),
    ])
    func badFlagsNameTheFlag(flags: [String], key: String, reason: String) throws {
        do {
            _ = try resolve(flags)
            Issue.record("accepted: \(flags)")
        } catch let error as ConfigurationError {
            #expect(error.key == key)
            #expect(error.reason.contains(reason), "\(error)")
        }
    }

    @Test func fileErrorsNameTheFileAndTheKey() throws {
        do {
            _ = try resolve([], file: "relay:\n  max_clients: none")
            Issue.record("accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.hasPrefix("lookout.yml: relay.max_clients: "))
        }
    }

    @Test func streamsAreReadFromTheFileAndTheFlags() throws {
        let file = try resolve(["--no-relay", "--redis", "redis://127.0.0.1:6379"],
                               file: "streams:\n  match: [\"orders\", \"events:*\"]\n  interval: 2s\n  max: 50\n  poison_deliveries: 3\n")
        #expect(file.streamsMatch == ["orders", "events:*"] && file.streamsInterval == 2 && file.streamsMax == 50 && file.streamsPoisonDeliveries == 3)
        let flags = try resolve(["--no-relay", "--redis", "redis://127.0.0.1:6379", "--stream", "a*", "--stream", "b", "--stream-interval", "500ms"])
        #expect(flags.streamsMatch == ["a*", "b"] && flags.streamsInterval == 0.5 && flags.streamsMax == 1_000)
        for (yaml, key) in [("streams:\n  match: [\"a[\"]\n", "streams.match[0]"), ("streams:\n  interval: 10ms\n", "streams.interval"),
                            ("streams:\n  max: 0\n", "streams.max"), ("streams:\n  every: 1s\n", "streams.every")] {
            do {
                _ = try ServeConfiguration.parse(yaml: yaml)
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.key == key, "\(error)")
            }
        }
    }
}
