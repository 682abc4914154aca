import Foundation
import Hummingbird
import LookoutCore
import Monitor
import Observations
import NIOCore
import Reports
import Store

/// The JSON API under `/api/v1`, read-only: what the monitor sees now (channels, consumers,
/// sources), the contracts it checks, and what the store recorded (a channel's history, a consumer's state changes,
/// alerts). Objects carry the same fields as the CLI's JSON. Unknown names answer 404, bad
/// parameters 400, history without a database 503, each as `{"error": …}`.
enum API {
    static func routes(on router: Router<BasicRequestContext>, _ dependencies: LookoutHTTPServer.Dependencies) {
        let monitor = dependencies.monitor
        router.get("/api/v1/channels") { _, _ -> Response in
            await monitor.caughtUp()
            return json(Reports.liveChannels(monitor.channels()))
        }
        router.get("/api/v1/channels/{name}") { request, context -> Response in
            let name = try pathName(context)
            let range = try timeRange(request, dependencies, defaultSince: 3600)
            let step = try request.uri.queryParameters.get("step").map { text -> Int64 in
                guard let step = TimeArgument.step(text) else { throw APIError.badRequest("step '\(text)' is not a whole number of seconds such as 10s or 1m") }
                return step
            } ?? TimeArgument.defaultStep(since: range.since, until: range.until)
            let points = try query(dependencies) { try $0.history(channel: name, since: range.since, until: range.until, step: step) }
            return json(Reports.history(channel: name, points, step: step, format: .json, style: style(dependencies)))
        }
        router.get("/api/v1/consumers") { _, _ -> Response in
            await monitor.caughtUp()
            return json(Reports.consumers(monitor.consumers(), format: .json, style: style(dependencies)))
        }
        router.get("/api/v1/consumers/{name}") { request, context -> Response in
            let name = try pathName(context)
            let range = try timeRange(request, dependencies, defaultSince: 86_400)
            await monitor.caughtUp()
            guard let consumer = monitor.consumers().first(where: { $0.consumer == name }) else {
                throw APIError.notFound("unknown consumer '\(name)'")
            }
            let transitions = dependencies.storePath == nil ? []
                : try query(dependencies) { try $0.transitions(consumer: name, since: range.since, until: range.until) }
            return json(Reports.consumer(consumer, transitions: transitions, format: .json, style: style(dependencies)))
        }
        router.get("/api/v1/alerts") { request, _ -> Response in
            let range = try timeRange(request, dependencies, defaultSince: 86_400)
            let alerts = try query(dependencies) { try $0.alerts(since: range.since, until: range.until) }
            return json(Reports.alerts(alerts, format: .json, style: style(dependencies)))
        }
        router.get("/api/v1/sources") { _, _ -> Response in
            json(Reports.sources(await monitor.sourceReports().map {
                ($0.name, $0.notReadyReason, $0.details.reconnects, $0.details.probeRoundTrip)
            }))
        }
        router.get("/api/v1/streams") { _, _ -> Response in
            json(Reports.streams(dependencies.streams(), format: .json, style: style(dependencies)))
        }
        router.get("/api/v1/contracts") { _, _ -> Response in
            json(Reports.contracts(dependencies.contracts))
        }
        router.get("/api/v1/notifications") { _, _ -> Response in
            json(Reports.notifications(dependencies.notifications()))
        }
        router.get("/api/v1/{rest}") { _, context -> Response in
            throw APIError.notFound("no such endpoint: /api/v1/\(context.parameters.get("rest") ?? "")")
        }
    }

    /// A bad question, answered as JSON with its status.
    struct APIError: HTTPResponseError {
        var status: HTTPResponse.Status
        var message: String

        static func notFound(_ message: String) -> Self { .init(status: .notFound, message: message) }
        static func badRequest(_ message: String) -> Self { .init(status: .badRequest, message: message) }

        func response(from request: Request, context: some RequestContext) throws -> Response {
            API.json(Reports.error(message), status: status)
        }
    }

    static func json(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    private static func pathName(_ context: BasicRequestContext) throws -> String {
        let raw = try context.parameters.require("name")
        guard let name = raw.removingPercentEncoding, !name.isEmpty else { throw APIError.badRequest("'\(raw)' is not a percent-encoded name") }
        return name
    }

    /// `?since=&until=` (a duration back from now such as `15m`, or an RFC 3339 time), as the CLI takes them.
    private static func timeRange(_ request: Request, _ dependencies: LookoutHTTPServer.Dependencies,
                                  defaultSince: Double) throws -> (since: Double, until: Double) {
        let now = dependencies.wallClock()
        func time(_ key: String, default value: Double) throws -> Double {
            guard let text = request.uri.queryParameters.get(key) else { return value }
            guard let time = TimeArgument.parse(text, now: now) else {
                throw APIError.badRequest("\(key) '\(text)' is neither a duration such as 15m nor an RFC 3339 time")
            }
            return time
        }
        let since = try time("since", default: now - defaultSince)
        let until = try time("until", default: now)
        guard since < until else { throw APIError.badRequest("since must come before until") }
        return (since, until)
    }

    /// Runs `body` on a read-only connection to the database.
    private static func query<T>(_ dependencies: LookoutHTTPServer.Dependencies, _ body: (StoreReader) throws -> T) throws -> T {
        guard let path = dependencies.storePath else {
            throw APIError(status: .serviceUnavailable, message: "no history: lookout serve runs without a database (--no-db)")
        }
        do {
            return try body(try StoreReader(path: path))
        } catch let error as StoreQueryError {
            throw APIError(status: error.isUnknownName ? .notFound : .internalServerError, message: error.description)
        }
    }

    private static func style(_ dependencies: LookoutHTTPServer.Dependencies) -> ReportStyle {
        ReportStyle(now: dependencies.wallClock(), timeZone: TimeZone(identifier: "UTC")!)
    }
}
