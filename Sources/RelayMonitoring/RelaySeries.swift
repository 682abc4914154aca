import GracefulStop
import LookoutCore
import LookoutMetrics
import Observations
import Prometheus
import Relay
import ServiceLifecycle
import Synchronization

/// The relay's own series, pushed from its statistics once a second, each written here only:
/// `lookout_relay_clients`, the slow-subscriber and keep-alive disconnects, the failed and
/// delayed logins, and `lookout_source_up{source="relay"}` (1 while it listens).
public final class RelaySeries: Service, Sendable {
    private let relay: RelayServer
    private let interval: Duration
    private let source: SourceSeries
    private let clients: Gauge
    private let slowSubscriberDisconnects: Counter
    private let keepaliveDisconnects: Counter
    private let delayedLoginRefusals: Counter
    private let authFailures: [AuthFailure: Counter]
    /// The totals last exported, by counter: the relay counts from its start, Prometheus by increments.
    private let exported = Mutex<[String: UInt64]>([:])

    public init(relay: RelayServer, registry: PrometheusCollectorRegistry, interval: Duration = .seconds(1)) {
        self.relay = relay
        self.interval = interval
        source = SourceSeries(source: RelaySource.sourceName, registry: registry)
        clients = registry.gauge("lookout_relay_clients", help: "Clients connected to the embedded relay.")
        slowSubscriberDisconnects = registry.counter("lookout_relay_slow_subscriber_disconnects_total",
            help: "Subscribers the relay disconnected for exceeding the output buffer limit.")
        keepaliveDisconnects = registry.counter("lookout_relay_keepalive_disconnects_total",
            help: "Relay clients reaped because they stopped answering TCP keep-alive probes (half-open connections).")
        delayedLoginRefusals = registry.counter("lookout_relay_auth_delayed_total",
            help: "Failed relay logins whose WRONGPASS reply was held back (100 ms, doubling to 2 s): more than 5 failures from one address within 10 s.")
        // Every reason from the start, so that a dashboard shows 0 rather than "No data".
        authFailures = Dictionary(uniqueKeysWithValues: AuthFailure.allCases.map { reason in
            (reason, registry.counter("lookout_relay_auth_failures_total", labels: [("reason", reason.rawValue)],
                                      help: "Failed AUTH and HELLO AUTH attempts on the relay, by reason (wrong_password, unknown_user, disabled_user)."))
        })
    }

    public func run() async throws {
        await cancelWhenStopping {
            while !Task.isCancelled {
                await self.export()
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    /// Reads the relay's statistics and brings the series up to them.
    public func export() async {
        source.up.set(Int64(await relay.isListening ? 1 : 0))
        guard let statistics = try? await relay.statistics() else { return }
        clients.set(Int64(statistics.connectedClients))
        exported.withLock { exported in
            func export(_ total: UInt64, as key: String, to counter: Counter) {
                let previous = exported[key] ?? 0
                if total > previous { counter.increment(by: Int64(total - previous)) }
                exported[key] = total
            }
            export(statistics.slowSubscriberDisconnects, as: "slow", to: slowSubscriberDisconnects)
            export(statistics.keepaliveDisconnects, as: "keepalive", to: keepaliveDisconnects)
            export(statistics.delayedLoginRefusals, as: "delayed", to: delayedLoginRefusals)
            for (reason, counter) in authFailures {
                export(statistics.authFailures[reason] ?? 0, as: reason.rawValue, to: counter)
            }
        }
    }
}
