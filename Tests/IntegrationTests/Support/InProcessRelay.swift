import Logging
import NIOCore
import Relay
import LookoutTestSupport

/// The relay started in this process on a free loopback port.
final class InProcessRelay {
    let server: RelayServer
    let port: Int

    init(configuration: RelayConfiguration = .init(port: 0)) async throws {
        var configuration = configuration
        configuration.host = "127.0.0.1"
        configuration.port = 0
        server = RelayServer(configuration: configuration, logger: Logger(label: "test.relay"))
        port = try await server.start().port!
    }

    func stop() async { await server.stop() }
}

/// Runs `body` with a relay on a free loopback port, and stops the relay afterwards.
func withRelay<T>(
    _ configuration: RelayConfiguration = .init(port: 0),
    _ body: (InProcessRelay) async throws -> T
) async throws -> T {
    let relay = try await InProcessRelay(configuration: configuration)
    do {
        let result = try await body(relay)
        await relay.stop()
        return result
    } catch {
        await relay.stop()
        throw error
    }
}
