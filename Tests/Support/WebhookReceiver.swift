import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A webhook endpoint on a free loopback port that records every body POSTed to it.
///
/// It runs on its own NIO event loop, never on the Swift concurrency pool: the tests that use
/// it block their thread while waiting, and a 2-core machine's pool would starve.
package final class WebhookReceiver: Sendable {
    package let port: Int
    private let log: BodyLog
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: any Channel

    /// - Parameter status: the status every POST is answered with (500 plays a failing receiver).
    package init(status: HTTPResponseStatus = .ok) throws {
        let log = BodyLog(answer: status)
        self.log = log
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(RecordingHandler(status: { log.answer }) { body, status in log.append(body, status) })
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        self.channel = channel
        self.port = channel.localAddress!.port!
    }

    package var url: String { "http://127.0.0.1:\(port)/hook" }

    /// Every body received, in arrival order.
    package var bodies: [Data] { log.all.map(\.body) }

    /// Answers every POST from now on with `status`.
    package func answer(_ status: HTTPResponseStatus) {
        log.answer = status
    }

    /// Every alert of every body received, in arrival order: whether it was answered with a
    /// success (delivered), its status, alertname, consumer and fencing token (an HA pair's).
    package var deliveries: [(accepted: Bool, status: String, name: String, consumer: String, fencingToken: Int?)] {
        log.all.flatMap { entry in
            Self.alerts(in: entry.body).map { alert in
                let labels = alert["labels"] as? [String: String] ?? [:]
                return ((200..<300).contains(entry.status.code), alert["status"] as? String ?? "", labels["alertname"] ?? "", labels["consumer"] ?? "",
                        alert["fencingToken"] as? Int)
            }
        }
    }

    /// (status, alertname, consumer, all labels) of every alert received so far, in arrival order.
    package var alerts: [(status: String, name: String, consumer: String, labels: [String: String])] {
        bodies.flatMap { data in
            Self.alerts(in: data).map { alert in
                let labels = alert["labels"] as? [String: String] ?? [:]
                return (alert["status"] as? String ?? "", labels["alertname"] ?? "", labels["consumer"] ?? "", labels)
            }
        }
    }

    /// When (``TestConnection/now()``) the first alert with this status and alertname arrived
    /// (of those answered with a success, if `acceptedOnly`): the product's timing, apart from
    /// when the test's own task got round to looking.
    package func firstArrival(status: String, name: String, acceptedOnly: Bool = false) -> Double? {
        log.all.first { entry in
            guard !acceptedOnly || (200..<300).contains(entry.status.code) else { return false }
            return Self.alerts(in: entry.body).contains { alert in
                alert["status"] as? String == status && (alert["labels"] as? [String: String])?["alertname"] == name
            }
        }?.receivedAt
    }

    /// The alerts of one webhook body (Alertmanager's format), none when it is not one.
    private static func alerts(in body: Data) -> [[String: Any]] {
        let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
        return object["alerts"] as? [[String: Any]] ?? []
    }

    package func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// The bodies received and what each was answered, shared by the handlers and the receiver.
private final class BodyLog: Sendable {
    private let bodies = Mutex<[(body: Data, status: HTTPResponseStatus, receivedAt: Double)]>([])
    private let status: Mutex<HTTPResponseStatus>

    init(answer: HTTPResponseStatus) { status = Mutex(answer) }

    /// What the next POST is answered with.
    var answer: HTTPResponseStatus {
        get { status.withLock { $0 } }
        set { status.withLock { $0 = newValue } }
    }

    func append(_ body: Data, _ status: HTTPResponseStatus) {
        let now = TestConnection.now()
        bodies.withLock { $0.append((body, status, now)) }
    }
    var all: [(body: Data, status: HTTPResponseStatus, receivedAt: Double)] { bodies.withLock { $0 } }
}

private final class RecordingHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: NIO calls a handler only on its channel's event loop.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var body = Data()
    private let record: @Sendable (Data, HTTPResponseStatus) -> Void
    private let status: @Sendable () -> HTTPResponseStatus

    init(status: @escaping @Sendable () -> HTTPResponseStatus, record: @escaping @Sendable (Data, HTTPResponseStatus) -> Void) {
        self.status = status
        self.record = record
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            body = Data()
        case .body(let chunk):
            body.append(contentsOf: chunk.readableBytesView)
        case .end:
            let status = status()
            record(body, status)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
