#if canImport(Glibc)
import Glibc
#endif
import GracefulStop
import Logging
import Monitor
import ServiceLifecycle

/// The service manager's notification socket (`sd_notify(3)`, `Type=notify`): readiness,
/// stopping, status and watchdog pings sent as datagrams to `$NOTIFY_SOCKET`. Without that
/// variable (not under systemd) every call does nothing.
public struct SystemdNotifier: Sendable {
    /// The socket's address: a path, or an abstract name (given with a leading `@`).
    public let socketPath: String?
    /// How often systemd expects a watchdog ping (`WatchdogSec`), when it expects any.
    public let watchdogInterval: Duration?

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` (a watchdog meant for another
    /// process is not ours) from `environment`.
    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let micros = environment["WATCHDOG_USEC"].flatMap(Int64.init), micros > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogInterval = .microseconds(micros)
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends `fields` (`READY=1`, `STATUS=…`) as one datagram, never waiting (a service manager
    /// that does not read its socket must not hold Lookout up); returns whether it was sent.
    @discardableResult
    public func notify(_ fields: [String]) -> Bool {
        guard let socketPath, socketPath.hasPrefix("/") || socketPath.hasPrefix("@") else { return false }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.enumerated() { bytes[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let message = fields.joined(separator: "\n")
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(descriptor, text, strlen(text), Int32(MSG_DONTWAIT), $0, length) }
            }
        }
        return sent >= 0
    }
}

/// Tells systemd when Lookout is ready (every listener open, the store opened) and when it
/// stops, and pings the watchdog while the monitor's loop turns: a monitor stuck for
/// `WatchdogSec` stops the pings, and systemd restarts Lookout.
struct SystemdNotification: Service {
    let notifier: SystemdNotifier
    let monitor: ChannelMonitor
    /// Whether every listener is open.
    let listening: @Sendable () -> Bool
    let status: @Sendable () -> String
    let logger: Logger

    func run() async throws {
        await cancelWhenStopping {
            while !listening() {
                guard (try? await Task.sleep(for: .milliseconds(20))) != nil else { return }
            }
            notifier.notify(["READY=1", "STATUS=\(status())"])
            logger.debug("systemd told: ready")
            guard let interval = notifier.watchdogInterval else {
                while (try? await Task.sleep(for: .seconds(3600))) != nil {}
                return
            }
            // Pings at a quarter of the interval, each one only while the monitor's loop has
            // turned within half of it.
            while (try? await Task.sleep(for: interval / 4)) != nil {
                if monitor.sinceLastIteration < interval / 2 { notifier.notify(["WATCHDOG=1"]) }
            }
        }
        notifier.notify(["STOPPING=1"])
    }
}
