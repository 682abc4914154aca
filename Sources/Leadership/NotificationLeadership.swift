import Alerting
import Foundation
import Logging
import LookoutCore
import LookoutMetrics
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// One instance of an HA group (`--ha-group`): several Lookouts watch the same Redis, and the
/// one holding the group's lease in Redis alone sends Lookout's own notifications (webhooks, the
/// bus). It claims the lease every third of `ha.lease` on a thread of its own; gates the shared
/// notifiers (``NotificationGate``: nothing queued or delivered without the current fencing
/// token); writes each delivery in the group's log; and when it becomes the holder, sends what
/// the log says was not delivered (``NotificationHandOver``). As an ``AlertNotifier`` it hears
/// every alert, so that it knows each one's last state whether or not it notifies.
public final class NotificationLeadership: Service, AlertNotifier, NotificationGate, Sendable {
    public struct Configuration: Sendable {
        public var group: String
        /// This instance's name in the group (`ha.instance`).
        public var instance: String
        /// Seconds a claim holds the lease (`ha.lease`).
        public var lease: Double
        /// The Redis the lease is kept on (the first watched).
        public var url: RedisURL

        public init(group: String, instance: String, lease: Double, url: RedisURL) {
            self.group = group
            self.instance = instance
            self.lease = lease
            self.url = url
        }
    }

    /// A delivery to write in the group's log.
    private struct Delivery {
        var fingerprint: String
        var notifier: String
        var status: Alert.Status
        var token: UInt64
    }

    private struct State {
        var lease: NotificationLease
        /// The last state of each alert this instance judged, firing or resolved.
        var latest: [String: Alert] = [:]
        /// "NOTIFIER FINGERPRINT STATUS" queued in the current term (never twice).
        var admitted: Set<String> = []
        var deliveries: [Delivery] = []
        /// Set on gaining the lease until the delivery log has been read and what it lacks sent.
        var handOverDue = false
        var notifiers: [String: @Sendable (Alert) -> Void] = [:]
    }

    public let configuration: Configuration
    private let state: Mutex<State>
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let started = ContinuousClock.now
    private let logger: Logger
    private let leader: Gauge
    private let fencingToken: Gauge
    private let transitions: Counter
    private let withheldCount: Counter
    private let errors: Counter

    /// Resolved alerts are remembered this long (a holder that died before announcing one).
    private static let resolvedMemory = 24 * 3600.0
    private static let maxRemembered = 10_000

    public init(configuration: Configuration, registry: PrometheusCollectorRegistry, logger: Logger = Logger(label: "lookout.ha")) {
        self.configuration = configuration
        self.logger = logger
        state = Mutex(State(lease: NotificationLease(duration: configuration.lease)))
        let labels = [("group", configuration.group)]
        leader = registry.gauge("lookout_ha_leader", labels: labels,
                                help: "1 on the instance of the HA group that holds the lease and sends notifications, 0 on the others.")
        fencingToken = registry.gauge("lookout_ha_fencing_token", labels: labels,
                                      help: "The fencing token of the HA group's lease holder, as last read (grows with each new holder).")
        transitions = registry.counter("lookout_ha_lease_transitions_total", labels: labels,
                                       help: "Times this instance gained or lost its HA group's lease.")
        withheldCount = registry.counter("lookout_ha_notifications_withheld_total", labels: labels,
                                         help: "Alert notifications this instance did not send because another instance held the lease.")
        errors = registry.counter("lookout_ha_lease_errors_total", labels: labels,
                                  help: "Lease claims and delivery log writes that failed (Redis unreachable or refusing).")
    }

    /// Seconds since this instance started (monotonic).
    private func now() -> Double {
        let elapsed = ContinuousClock.now - started
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    /// Makes `send` what the hand-over calls for alerts `notifier` (as it names itself in
    /// ``admit(_:notifier:)``) has not delivered.
    public func register(notifier: String, send: @escaping @Sendable (Alert) -> Void) {
        state.withLock { $0.notifiers[notifier] = send }
    }

    /// Who notifies, for the API, the status page and `lookout top`.
    public var status: NotificationStatus {
        let now = now()
        return state.withLock { state in
            NotificationStatus(group: configuration.group, instance: configuration.instance, notifies: state.lease.token(at: now) != nil,
                               holder: state.lease.holder?.instance, fencingToken: state.lease.holder?.token)
        }
    }

    // MARK: AlertNotifier: every alert's last state

    public func send(_ alert: Alert) { remember(alert) }

    public func resume(_ alert: Alert) { remember(alert) }

    private func remember(_ alert: Alert) {
        state.withLock { state in
            state.latest[alert.fingerprint] = alert
            guard state.latest.count > Self.maxRemembered else { return }
            let horizon = Date().addingTimeInterval(-Self.resolvedMemory)
            state.latest = state.latest.filter { $0.value.endsAt.map { $0 > horizon } ?? true }
            if state.latest.count > Self.maxRemembered {
                let oldestResolved = state.latest.values.filter { $0.status == .resolved }.sorted { $0.endsAt! < $1.endsAt! }
                for alert in oldestResolved.prefix(state.latest.count - Self.maxRemembered) { state.latest[alert.fingerprint] = nil }
            }
        }
    }

    // MARK: NotificationGate

    public func admit(_ alert: Alert, notifier: String) -> UInt64? {
        let now = now()
        let token: UInt64?? = state.withLock { state in
            guard let token = state.lease.token(at: now) else { return .some(nil) }
            guard state.admitted.insert("\(notifier) \(alert.fingerprint) \(alert.status.rawValue)").inserted else { return nil }
            return token
        }
        switch token {
        case .some(.some(let token)): return token
        case .some(.none): withheldCount.increment(); return nil
        case .none: return nil
        }
    }

    public func token() -> UInt64? {
        let now = now()
        return state.withLock { $0.lease.token(at: now) }
    }

    public func delivered(_ alert: Alert, notifier: String, token: UInt64) {
        state.withLock { $0.deliveries.append(Delivery(fingerprint: alert.fingerprint, notifier: notifier, status: alert.status, token: token)) }
        wake.signal()
    }

    public func withheld(_ alert: Alert, notifier: String) {
        withheldCount.increment()
    }

    // MARK: The lease's thread

    public func run() async throws {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await thread.runIfActive { self.keepLease() }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        try? await thread.shutdownGracefully()
    }

    private func stop() {
        stopping.store(true, ordering: .relaxed)
        wake.signal()
    }

    /// Claims the lease every third of it, writes the delivery log, hands over when it gains
    /// the lease; gives the lease up on a graceful stop.
    private func keepLease() {
        let lease = configuration.lease
        let renewInterval = state.withLock { $0.lease.renewInterval }
        let timeout = max(1, min(2, Int(lease / 4)))
        var connection: LeaseConnection?
        var reachable = true
        var refusals = LogRateLimit(interval: 60)
        var nextClaim = now()
        func failed(_ error: any Error) {
            errors.increment()
            if error is LeaseError {
                // Redis answered, with an error (an ACL without the lease's rights, a read-only replica).
                if let heldBack = refusals.admit(at: now()) {
                    logger.error("HA lease: Redis refused a command", metadata: [
                        "group": "\(configuration.group)", "error": "\(error)", "held_back": "\(heldBack)",
                    ])
                }
                return
            }
            connection = nil
            if reachable { logger.warning("HA lease: Redis unreachable", metadata: ["group": "\(configuration.group)", "error": "\(error)"]) }
            reachable = false
        }
        func connected() throws -> LeaseConnection {
            if let connection { return connection }
            let opened = try LeaseConnection(url: configuration.url, group: configuration.group, timeoutSeconds: timeout)
            connection = opened
            return opened
        }

        while !stopping.load(ordering: .relaxed) {
            let sentAt = now()
            if sentAt >= nextClaim {
                nextClaim = sentAt + renewInterval
                do {
                    let claim = try connected().claim(instance: configuration.instance, milliseconds: Int(lease * 1000))
                    if !reachable { logger.notice("HA lease: Redis reachable again", metadata: ["group": "\(configuration.group)"]) }
                    reachable = true
                    handle(state.withLock { state in
                        claim.held ? state.lease.held(token: claim.token, instance: claim.holder, sentAt: sentAt)
                                   : state.lease.heldElsewhere(by: claim.holder, token: claim.token)
                    })
                } catch {
                    failed(error)
                }
            }
            let at = now()
            handle(state.withLock { $0.lease.unanswered(at: at) })
            if let open = connection {
                do {
                    try handOver(open)
                    try writeDeliveries(open)
                } catch {
                    failed(error)
                }
            }
            publishGauges()
            let wait = max(0.01, min(0.25, nextClaim - now()))
            _ = wake.wait(timeout: .now() + wait)
        }
        if state.withLock({ $0.lease.heldToken != nil }) {
            // What the notifiers delivered on their way out is logged before the lease goes, so
            // that the next holder does not send it again.
            try? writeDeliveries(connected())
            try? connected().release(instance: configuration.instance)
            logger.notice("HA lease given up on stop", metadata: ["group": "\(configuration.group)"])
        }
    }

    private func handle(_ change: NotificationLease.Change?) {
        guard let change else { return }
        transitions.increment()
        switch change {
        case .gained(let token):
            state.withLock { state in
                state.admitted = []
                state.handOverDue = true
            }
            logger.notice("HA: this instance now sends the group's notifications", metadata: [
                "group": "\(configuration.group)", "instance": "\(configuration.instance)", "fencing_token": "\(token)",
            ])
        case .lost(let reason):
            logger.warning("HA: this instance no longer sends notifications", metadata: ["group": "\(configuration.group)", "reason": "\(reason)"])
        }
        publishGauges()
    }

    /// After gaining the lease: reads the delivery log and sends, through each notifier, what it
    /// lacks (fired or resolved while nobody notified, or queued by a holder that died).
    private func handOver(_ connection: LeaseConnection) throws {
        guard state.withLock({ $0.handOverDue }) else { return }
        let delivered = try connection.deliveredFiring()
        let (latest, notifiers) = state.withLock { state in
            state.handOverDue = false
            return (Array(state.latest.values), state.notifiers)
        }
        for (name, send) in notifiers.sorted(by: { $0.key < $1.key }) {
            let due = NotificationHandOver.due(latest: latest, deliveredFiring: delivered[name] ?? [])
            if !due.isEmpty {
                logger.notice("HA hand-over: sending what the delivery log lacks", metadata: ["notifier": "\(name)", "alerts": "\(due.count)"])
            }
            for alert in due { send(alert) }
        }
    }

    private func writeDeliveries(_ connection: LeaseConnection) throws {
        let deliveries = state.withLock { state in
            defer { state.deliveries = [] }
            return state.deliveries
        }
        for (index, delivery) in deliveries.enumerated() {
            do {
                let recorded = try connection.record(fingerprint: delivery.fingerprint, notifier: delivery.notifier, status: delivery.status,
                                                     token: delivery.token)
                if !recorded {
                    logger.warning("HA: a delivery was not logged: a newer holder has the lease (it may send the alert again)", metadata: [
                        "group": "\(configuration.group)", "notifier": "\(delivery.notifier)", "fencing_token": "\(delivery.token)",
                    ])
                }
            } catch let refused as LeaseError {
                // Refused, not lost: writing it again would be refused again. The next holder may send it again.
                errors.increment()
                logger.error("HA: a delivery could not be logged", metadata: [
                    "group": "\(configuration.group)", "notifier": "\(delivery.notifier)", "error": "\(refused)",
                ])
            } catch {
                // The link broke: kept for the next attempt, in order.
                state.withLock { $0.deliveries.insert(contentsOf: deliveries[index...], at: 0) }
                throw error
            }
        }
    }

    private func publishGauges() {
        let now = now()
        let (notifies, token) = state.withLock { ($0.lease.token(at: now) != nil, $0.lease.holder?.token) }
        leader.set(Int64(notifies ? 1 : 0))
        if let token { fencingToken.set(Int64(clamping: token)) }
    }
}
