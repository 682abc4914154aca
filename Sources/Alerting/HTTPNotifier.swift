import AsyncHTTPClient
import Foundation
import Logging
import LookoutCore
import LookoutMetrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// Posts alerts over HTTP, either to a generic webhook in Alertmanager's webhook format
/// (version "4"), or to Alertmanager's own API (`POST /api/v2/alerts`), where firing alerts are
/// re-sent every `resendInterval` as Alertmanager expects, and resolved ones carry `endsAt` and
/// are re-sent three more times.
/// Deliveries run on their own task and retry with backoff; `send` never waits, so a dead
/// receiver never holds up detection.
public final class HTTPNotifier: Service, Sendable {
    /// What the receiver speaks.
    public enum Format: String, Sendable {
        /// A webhook receiving Alertmanager's webhook body.
        case webhook
        /// Alertmanager's API: the URL is its base, e.g. `http://127.0.0.1:9093`.
        case alertmanager
    }

    public let url: String
    public let format: Format
    private let resendInterval: Duration
    /// Alerts to repeat to Alertmanager: firing ones until they resolve, resolved ones a few more
    /// times (`remaining`), so an Alertmanager that missed the resolution still hears of it.
    private let resend = Mutex<[String: (alert: Alert, remaining: Int?)]>([:])
    private static let resolvedRepeats = 3
    private let client: HTTPClient
    /// Alerts to deliver, each with whether it is a periodic re-send to Alertmanager (not
    /// reported) and the fencing token it was admitted under (in an HA pair).
    private let stream: AsyncStream<Queued>
    private let continuation: AsyncStream<Queued>.Continuation
    private let gate: (any NotificationGate)?
    private let onDelivery: @Sendable (AlertDelivery) -> Void
    private let logger: Logger
    private let outcomes: AlertsSentCounters
    private let maxAttempts: Int
    private let clock: any Clock<Duration>

    private struct Queued: Sendable {
        var alert: Alert
        var isResend = false
        var fencingToken: UInt64?
    }

    /// - Parameter gate: in an HA pair, decides whether this instance delivers (webhooks only:
    ///   every instance of a pair pushes to Alertmanager, which deduplicates).
    public init(url: String, format: Format = .webhook, registry: PrometheusCollectorRegistry, maxAttempts: Int = 5,
                resendInterval: Duration = .seconds(60), clock: any Clock<Duration> = ContinuousClock(),
                logger: Logger = Logger(label: "lookout.alerts"), eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                gate: (any NotificationGate)? = nil, onDelivery: @escaping @Sendable (AlertDelivery) -> Void = { _ in }) {
        self.onDelivery = onDelivery
        self.gate = gate
        self.url = format == .alertmanager ? url.trimmingSuffix("/") + "/api/v2/alerts" : url
        self.format = format
        self.resendInterval = resendInterval
        self.client = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup))
        (stream, continuation) = AsyncStream.makeStream(of: Queued.self, bufferingPolicy: .bufferingOldest(10_000))
        self.logger = logger
        self.maxAttempts = maxAttempts
        self.clock = clock
        outcomes = AlertsSentCounters(notifier: format.rawValue, registry: registry)
    }

    /// Queues an alert for delivery; counted as dropped if 10,000 are already waiting.
    public func send(_ alert: Alert) {
        var queued = Queued(alert: alert)
        if let gate {
            guard let token = gate.admit(alert, notifier: notifierName) else { return }
            queued.fencingToken = token
        }
        if format == .alertmanager {
            resend.withLock { $0[alert.fingerprint] = (alert, alert.status == .firing ? nil : Self.resolvedRepeats) }
        }
        if case .dropped = continuation.yield(queued) {
            outcomes.dropped.increment()
            onDelivery(AlertDelivery(alert: alert, notifier: notifierName, outcome: .dropped, attempts: 0, error: "queue full"))
        }
    }

    /// Takes back an alert that was firing before a restart: Alertmanager hears it again at the
    /// next re-send (a webhook is not told twice).
    public func resume(_ alert: Alert) {
        guard format == .alertmanager, alert.status == .firing else { return }
        resend.withLock { $0[alert.fingerprint] = (alert, nil) }
    }

    /// How this notifier is named in deliveries, and in an HA group's delivery log.
    public var notifierName: String { "\(format.rawValue) \(url)" }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                if format == .alertmanager {
                    group.addTask { await self.resendFiring(on: self.clock) }
                }
                for await queued in stream {
                    await deliver(queued)
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
        try? await client.shutdown()
    }

    /// Alertmanager forgets an alert that is not re-sent: repeat every firing one, and each
    /// resolved one a few times.
    private func resendFiring<C: Clock<Duration>>(on clock: C) async {
        while !Task.isCancelled {
            try? await clock.sleep(for: resendInterval)
            let due = resend.withLock { pending -> [Alert] in
                let alerts = pending.values.map(\.alert)
                for (key, entry) in pending {
                    guard let remaining = entry.remaining else { continue }
                    pending[key] = remaining > 1 ? (entry.alert, remaining - 1) : nil
                }
                return alerts
            }
            for alert in due { continuation.yield(Queued(alert: alert, isResend: true)) }
        }
    }

    private func deliver(_ queued: Queued) async {
        let alert = queued.alert
        let reported = !queued.isResend
        let body = format == .alertmanager ? Self.apiBody(for: [alert])
            : Self.webhookBody(for: [alert], externalURL: "", fencingToken: queued.fencingToken)
        var delay: Duration = .milliseconds(250)
        var lastError = ""
        for attempt in 1...maxAttempts {
            if let gate, let admitted = queued.fencingToken, gate.token() != admitted {
                // The lease was lost (or changed hands) since the alert was queued: its holder sends it.
                gate.withheld(alert, notifier: notifierName)
                return
            }
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await client.execute(request, timeout: .seconds(5))
                guard (200..<300).contains(Int(response.status.code)) else {
                    throw WebhookError(description: "HTTP \(response.status.code)")
                }
                outcomes.success.increment()
                if let gate, let token = queued.fencingToken { gate.delivered(alert, notifier: notifierName, token: token) }
                logger.info("alert delivered", metadata: ["alert": "\(alert.name)", "status": "\(alert.status.rawValue)", "url": "\(url)"])
                if reported { onDelivery(AlertDelivery(alert: alert, notifier: notifierName, outcome: .success, attempts: attempt)) }
                return
            } catch {
                outcomes.attemptErrors.increment()
                lastError = "\(error)"
                logger.warning("alert delivery failed", metadata: [
                    "alert": "\(alert.name)", "attempt": "\(attempt)", "url": "\(url)", "error": "\(error)",
                ])
                if attempt < maxAttempts {
                    try? await clock.sleep(for: delay)
                    delay = min(delay * 2, .seconds(10))
                }
            }
        }
        outcomes.failure.increment()
        if reported { onDelivery(AlertDelivery(alert: alert, notifier: notifierName, outcome: .failure, attempts: maxAttempts, error: lastError)) }
    }

    /// RFC 3339 with milliseconds, as Alertmanager writes times.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// The body of Alertmanager's `POST /api/v2/alerts`.
    public static func apiBody(for alerts: [Alert]) -> Data {
        let entries = alerts.map { alert in
            APIAlert(labels: alert.labels, annotations: alert.annotations, startsAt: timestamp(alert.startsAt),
                     endsAt: alert.endsAt.map(timestamp), generatorURL: nil)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(entries)) ?? Data()
    }

    /// Alertmanager's webhook payload (version "4") for `alerts` sharing one status; in an HA
    /// pair each alert also carries the fencing token it is sent under (`fencingToken`), so that
    /// a receiver can drop a late send from a holder that has been replaced.
    public static func webhookBody(for alerts: [Alert], externalURL: String, fencingToken: UInt64? = nil) -> Data {
        let status = alerts.contains { $0.status == .firing } ? "firing" : "resolved"
        let common = alerts.dropFirst().reduce(alerts.first?.labels ?? [:]) { common, alert in
            common.filter { alert.labels[$0.key] == $0.value }
        }
        let payload = WebhookPayload(
            version: "4",
            groupKey: "{}:{alertname=\"\(alerts.first?.name ?? "")\"}",
            truncatedAlerts: 0,
            status: status,
            receiver: "lookout",
            groupLabels: ["alertname": alerts.first?.name ?? ""],
            commonLabels: common,
            commonAnnotations: alerts.count == 1 ? alerts[0].annotations : [:],
            externalURL: externalURL,
            alerts: alerts.map { WebhookPayload.Entry($0, generatorURL: externalURL, fencingToken: fencingToken) }
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(payload)) ?? Data()
    }
}

struct APIAlert: Codable {
    var labels: [String: String]
    var annotations: [String: String]
    var startsAt: String
    var endsAt: String?
    var generatorURL: String?
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

struct WebhookError: Error, CustomStringConvertible {
    var description: String
}

struct WebhookPayload: Codable {
    struct Entry: Codable {
        var status: String
        var labels: [String: String]
        var annotations: [String: String]
        var startsAt: String
        var endsAt: String
        var generatorURL: String
        var fingerprint: String
        /// The lease's fencing token in an HA pair (absent otherwise).
        var fencingToken: UInt64?

        init(_ alert: Alert, generatorURL: String, fencingToken: UInt64? = nil) {
            status = alert.status.rawValue
            labels = alert.labels
            annotations = alert.annotations
            startsAt = HTTPNotifier.timestamp(alert.startsAt)
            endsAt = alert.endsAt.map(HTTPNotifier.timestamp) ?? "0001-01-01T00:00:00Z"
            self.generatorURL = generatorURL
            fingerprint = alert.fingerprint
            self.fencingToken = fencingToken
        }
    }

    var version: String
    var groupKey: String
    var truncatedAlerts: Int
    var status: String
    var receiver: String
    var groupLabels: [String: String]
    var commonLabels: [String: String]
    var commonAnnotations: [String: String]
    var externalURL: String
    var alerts: [Entry]
}
