import ArgumentParser
import AsyncHTTPClient
import LookoutApplication
import Foundation
import LookoutCore
import NIOCore
import NIOHTTP1

/// A running Lookout's JSON API as the CLI's live commands (`top`, `streams`) read it: the
/// `--url` checked, the `--metrics-auth` credentials loaded once, every failure a
/// ``CommandFailure`` that says what to do.
struct LookoutAPIClient {
    let base: String
    private let authorization: String?

    init(url: String, metricsAuth: String?) throws {
        base = url.hasSuffix("/") ? String(url.dropLast()) : url
        guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
            throw CommandFailure("--url '\(url)' is not an http:// or https:// address", status: Lookout.invalidConfigurationStatus)
        }
        guard let metricsAuth else {
            authorization = nil
            return
        }
        guard let source = HTTPCredentials.Source(metricsAuth) else {
            throw CommandFailure("--metrics-auth '\(metricsAuth)' is not basic:FILE or bearer:FILE", status: Lookout.invalidConfigurationStatus)
        }
        do {
            authorization = try HTTPCredentials.load(source).authorizationHeader
        } catch {
            throw CommandFailure("--metrics-auth: \(error)", status: Lookout.invalidConfigurationStatus)
        }
    }

    /// `GET base + path`: the status and the body.
    func get(_ path: String) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: base + path)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        } catch {
            throw CommandFailure("cannot reach Lookout at \(base): \(error)")
        }
        if response.status.code == 401 {
            throw CommandFailure("\(base) asks for credentials: give --metrics-auth basic:FILE or bearer:FILE, as lookout serve has")
        }
        do {
            let body = try await response.body.collect(upTo: 64 << 20)
            return (Int(response.status.code), Data(body.readableBytesView))
        } catch {
            throw CommandFailure("cannot reach Lookout at \(base): \(error)")
        }
    }
}

/// The options of the CLI's commands that read a running Lookout (`top`, `streams`).
struct LookoutAPIOptions: ParsableArguments {
    @Option(help: "The Lookout HTTP server to ask.")
    var url = "http://127.0.0.1:9480"

    @Option(help: "Credentials for a Lookout started with --metrics-auth: basic:FILE or bearer:FILE, the same file.")
    var metricsAuth: String?

    func client() throws -> LookoutAPIClient {
        try LookoutAPIClient(url: url, metricsAuth: metricsAuth)
    }
}
