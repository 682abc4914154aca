import Foundation
import Hummingbird
import Synchronization

/// A webhook endpoint on a free loopback port that records every JSON body POSTed to `/hook`.
final class WebhookReceiver: Sendable {
    let port: Int
    private let bodies = Mutex<[Data]>([])
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    init() throws {
        port = try freeLoopbackPort()
        let router = Router()
        router.post("/hook") { [self] request, _ -> HTTPResponse.Status in
            let body = Data(try await request.body.collect(upTo: 1 << 20).readableBytesView)
            self.bodies.withLock { $0.append(body) }
            return .ok
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        task.withLock { $0 = Task { try? await app.runService(gracefulShutdownSignals: []) } }
        try waitForListener(port: port)
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }

    /// (status, alertname, consumer) of every alert received so far, in arrival order.
    var alerts: [(status: String, name: String, consumer: String)] {
        bodies.withLock { $0 }.flatMap { data in
            let body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            return (body["alerts"] as? [[String: Any]] ?? []).map { alert in
                let labels = alert["labels"] as? [String: String] ?? [:]
                return (alert["status"] as? String ?? "", labels["alertname"] ?? "", labels["consumer"] ?? "")
            }
        }
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }
}
