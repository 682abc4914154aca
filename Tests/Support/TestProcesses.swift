#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LookoutCore
import RESP
import RedisSources

/// A free loopback TCP port, found by binding port 0.
package func freeLoopbackPort() throws -> Int {
    try bindLoopback(port: 0)
}

/// A free loopback port whose cluster bus port (port + 10000) is free too, for a Redis Cluster
/// node (Redis cannot bind port 0 and report it). Both stay below Linux's ephemeral range
/// (32768 and up), so no outgoing connection takes one between this check and the bind.
package func freeClusterNodePort() throws -> Int {
    for _ in 0..<200 {
        let port = Int.random(in: 10_000...22_767)
        if (try? bindLoopback(port: port)) != nil, (try? bindLoopback(port: port + 10_000)) != nil { return port }
    }
    throw TestFailure("no free port pair for a cluster node")
}

/// Binds `port` (0: any) on loopback and releases it; returns the port bound.
private func bindLoopback(port: Int) throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestFailure("could not bind port \(port)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Polls `condition` every 20 ms for at most `seconds`; returns how long it took to hold, or nil.
/// Blocks its thread: for synchronous code only (from async code, `await eventually`: the
/// concurrency pool has only as many threads as cores).
@available(*, noasync, message: "use the async eventually")
@discardableResult
package func blockingEventually(seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Double? {
    let start = TestConnection.now()
    while TestConnection.now() - start < seconds {
        if try condition() { return TestConnection.now() - start }
        usleep(20_000)
    }
    return try condition() ? TestConnection.now() - start : nil
}

/// The same, for async tests: sleeps without holding one of the few threads of the concurrency
/// pool (a blocked pool starves the async tests that run alongside).
@discardableResult
package func eventually(seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Double? {
    let start = TestConnection.now()
    while TestConnection.now() - start < seconds {
        if try await condition() { return TestConnection.now() - start }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition() ? TestConnection.now() - start : nil
}

/// Waits until something accepts connections on `port`, for at most `seconds`.
package func waitForListener(port: Int, seconds: Double = 10) throws {
    let deadline = TestConnection.now() + seconds
    while TestConnection.now() < deadline {
        if (try? TestConnection(port: port)) != nil { return }
        usleep(20_000)
    }
    throw TestFailure("nothing listening on 127.0.0.1:\(port) after \(seconds)s")
}

/// Finds an executable on PATH (or the usual sbin folders, where Debian puts redis-server).
package func executable(_ name: String) throws -> String {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/usr/bin:/sbin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    throw TestFailure("\(name) not found on PATH: run `make test`, which installs it")
}

/// A consumer as a shell loop: a heartbeat (interval 500 ms unless told, group billing) published
/// every 200 ms with redis-cli on `port`, bounded to 600 beats. Kill it to play a dead consumer.
/// A process of its own: the beats keep time however busy the test process is.
package func heartbeatLoop(port: Int, consumer: String, intervalMilliseconds: Int = 500) throws -> ChildProcess {
    try heartbeatLoop(ports: [port], consumer: consumer, intervalMilliseconds: intervalMilliseconds)
}

/// The same, published through the first of `ports` that takes it (a cluster client moving to
/// another node when its node dies).
package func heartbeatLoop(ports: [Int], consumer: String, intervalMilliseconds: Int = 500) throws -> ChildProcess {
    let heartbeat = #"{"v":1,"consumer":"\#(consumer)","group":"billing","interval_ms":\#(intervalMilliseconds)}"#
    let cli = try executable("redis-cli")
    let publish = ports.map { "'\(cli)' -p \($0) publish lookout:heartbeat '\(heartbeat)' >/dev/null 2>&1" }.joined(separator: " || ")
    let script = "for i in $(seq 1 600); do \(publish); sleep 0.2; done"
    return try ChildProcess("/bin/sh", ["-c", script])
}

/// A child process started with posix_spawn, in a process group of its own, and reaped with
/// waitpid; stopped (SIGTERM, then SIGKILL, to the whole group: a shell's children, Chromium's
/// helpers) when the test is done with it. Its output goes to a temporary file. Should the test
/// runner crash or be killed, ``ChildReaper`` kills the groups still running.
package final class ChildProcess {
    package let name: String
    package let pid: pid_t
    package let logPath: String
    private var exitStatus: Int32?

    package init(_ path: String, _ arguments: [String], name: String? = nil) throws {
        self.name = name ?? String(path.split(separator: "/").last ?? "")
        logPath = "/tmp/lookout-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        pid = try spawn(path, arguments, standardInput: nil, output: logPath, ownGroup: true)
        ChildReaper.shared.started(group: pid)
    }

    /// Whether the process is still running (reaps it if it has exited).
    package var isRunning: Bool {
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            return false
        }
        return true
    }

    /// Exit status (128 + signal when killed by one), once it has exited.
    package var terminationStatus: Int32? {
        _ = isRunning
        return exitStatus
    }

    /// Waits up to `seconds` for the process to exit by itself; returns its status, or nil.
    package func waitForExit(seconds: Double) -> Int32? {
        let deadline = TestConnection.now() + seconds
        while isRunning && TestConnection.now() < deadline { usleep(5_000) }
        return exitStatus
    }

    /// Sends `signal` and waits up to `seconds` for the process to exit; returns its status,
    /// or nil when it had to be killed.
    @discardableResult
    package func stop(signal: Int32 = SIGTERM, seconds: Double = 10) -> Int32? {
        defer { endGroup() }
        guard isRunning else { return exitStatus }
        kill(-pid, signal)
        if waitForExit(seconds: seconds) == nil {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exitStatus = 128 + SIGKILL
            return nil
        }
        return exitStatus
    }

    /// Kills what the process left in its group (a shell's child, a browser's helpers).
    private func endGroup() {
        guard exitStatus != nil else { return }
        kill(-pid, SIGKILL)
        ChildReaper.shared.ended(group: pid)
    }

    /// Everything the process has written so far.
    package func output() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// Resident memory in bytes, from /proc.
    package func residentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }

    deinit {
        stop()
        unlink(logPath)
    }
}

/// A test uses each process from one task at a time (handing it to a thread and back), never
/// from two at once.
extension ChildProcess: @unchecked Sendable {}

/// The waits from an async test: on the test I/O threads (``offThePool(_:)``), never on the
/// concurrency pool the Lookout under test needs.
extension ChildProcess {
    /// Waits up to `seconds` for the process to exit by itself; returns its status, or nil.
    package func waitForExit(seconds: Double) async -> Int32? {
        (try? await offThePool { self.waitForExit(seconds: seconds) as Int32? }) ?? nil
    }

    /// Sends `signal` and waits up to `seconds` for the process to exit; returns its status,
    /// or nil when it had to be killed (or was left to `deinit`, should the I/O threads be gone).
    @discardableResult
    package func stop(signal: Int32 = SIGTERM, seconds: Double = 10) async -> Int32? {
        (try? await offThePool { self.stop(signal: signal, seconds: seconds) as Int32? }) ?? nil
    }
}
extension LookoutProcess: @unchecked Sendable {}

/// A real redis-server on a free loopback port, without persistence.
///
/// Redis cannot bind port 0 and report it, so the port is found first; another test may take
/// it in between. The server is ours only when the one answering on the port reports our
/// child's process id (`INFO server`); otherwise it is started again on another port.
package final class RedisServer {
    package let port: Int
    package let child: ChildProcess

    /// - Parameters:
    ///   - port: a port to reuse (to restart a server where a client expects it), or nil for a free one.
    ///   - choosePort: how a free port is found (cluster nodes: ``freeClusterNodePort()``).
    ///   - user: an ACL user and password to check readiness with, when the default user is off.
    ///   - tls: TLS only (`--port 0 --tls-port`): how a client reaches it (readiness is checked
    ///     so); `extraArguments` name the server's certificate files.
    package init(port: Int? = nil, extraArguments: [String] = [], user: (name: String, password: String)? = nil,
                 tls: RedisTLSSettings? = nil, choosePort: () throws -> Int = freeLoopbackPort) throws {
        var lastError: any Error = TestFailure("redis-server did not start")
        for _ in 0..<(port == nil ? 5 : 1) {
            let candidate = try port ?? choosePort()
            let ports = tls == nil ? ["--port", "\(candidate)"] : ["--port", "0", "--tls-port", "\(candidate)"]
            let child = try ChildProcess(try executable("redis-server"), ports + [
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
            ] + extraArguments)
            let password = extraArguments.firstIndex(of: "--requirepass").map { extraArguments[$0 + 1] }
            let ours = blockingEventually(seconds: 10) {
                guard child.isRunning else { return true }
                if let tls {
                    var url = RedisURL("rediss://127.0.0.1:\(candidate)")!
                    url.tls = tls
                    guard let connection = try? RedisConnection(url, clientName: nil),
                          case .bytes(let info)? = try? connection.command(["INFO", "server"]) else { return false }
                    return String(decoding: info, as: UTF8.self).contains("process_id:\(child.pid)\r\n")
                }
                guard let connection = try? TestConnection(port: candidate) else { return false }
                if let password { _ = try? connection.call("AUTH", password) }
                if let user { _ = try? connection.call("AUTH", user.name, user.password) }
                let info = (try? connection.call("INFO", "server").string) ?? ""
                return info.contains("process_id:\(child.pid)\r\n")
            }
            if ours != nil && child.isRunning {
                self.port = candidate
                self.child = child
                return
            }
            child.stop()
            lastError = TestFailure("redis-server on port \(candidate) did not start as ours: \(child.output().suffix(300))")
        }
        throw lastError
    }

    package func stop() { child.stop() }

    /// Stops the server, waiting off the concurrency pool.
    package func stop() async { await child.stop() }
}

/// The `lookout` executable built next to the test bundle, run as a child process: for what
/// only a process shows (signals, exit codes, resident memory, kill -9). Both servers bind port
/// 0; the ports the system chose are read from the log lines `relay listening` and
/// `http listening`. Most tests run ``InProcessLookout`` instead.
package final class LookoutProcess {
    package let port: Int
    /// The relay's TLS port (0 without `--relay-tls`).
    package let tlsPort: Int
    package let metricsPort: Int
    package let child: ChildProcess

    package static var binary: String {
        get throws {
            let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            var directory = testBinary.deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = directory.appendingPathComponent("lookout").path
                if access(candidate, X_OK) == 0 { return candidate }
                directory = directory.deletingLastPathComponent()
            }
            throw TestFailure("lookout binary not found next to \(testBinary.path): run `swift build` first")
        }
    }

    /// The database this process writes: `--db` if given, otherwise a fresh temporary one
    /// (removed with the process).
    package let databasePath: String?
    private let ownsDatabase: Bool

    /// - Parameters:
    ///   - binary: another `lookout` than the one built beside the tests (an installed one).
    ///   - environment: when given, the process gets only these variables (`env -i`).
    package init(arguments: [String] = [], seconds: Double = 30, binary: String? = nil, environment: [String: String]? = nil) throws {
        var arguments = arguments
        (databasePath, ownsDatabase) = temporaryDatabase(&arguments)
        let command = [try binary ?? Self.binary, "serve", "--relay", "127.0.0.1:0", "--metrics", "127.0.0.1:0"] + arguments
        let child = try environment.map { variables in
            try ChildProcess("/usr/bin/env", ["-i"] + variables.sorted(by: { $0.key < $1.key }).map { "\($0)=\($1)" } + command, name: "lookout")
        } ?? ChildProcess(command[0], Array(command.dropFirst()), name: "lookout")
        self.child = child
        let relayed = !arguments.contains("--no-relay")
        let plain = !arguments.contains("--relay-tls-only")
        let secure = arguments.contains("--relay-tls")
        var ports: (relay: Int?, tls: Int?, http: Int?) = (nil, nil, nil)
        blockingEventually(seconds: seconds) {
            let output = child.output()
            ports = (Self.loggedPort("relay listening", in: output), Self.loggedPort("relay TLS listening", in: output),
                     Self.loggedPort("http listening", in: output))
            let relayReady = !relayed || ((ports.relay != nil || !plain) && (ports.tls != nil || !secure))
            return relayReady && ports.http != nil || !child.isRunning
        }
        guard let http = ports.http, !relayed || ((ports.relay != nil || !plain) && (ports.tls != nil || !secure)) else {
            throw TestFailure("lookout did not report its ports within \(seconds)s; its output:\n\(child.output())")
        }
        port = ports.relay ?? 0
        tlsPort = ports.tls ?? 0
        metricsPort = http
    }

    /// The `port=` of the first log line that says `message`.
    private static func loggedPort(_ message: String, in output: String) -> Int? {
        for line in output.split(separator: "\n") where line.contains(message) {
            guard let range = line.range(of: "port=") else { continue }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        return nil
    }

    deinit {
        child.stop()
        if ownsDatabase, let databasePath { removeDatabase(databasePath) }
    }

    /// GET `path` from the HTTP server; returns the status code and body.
    package func get(_ path: String) throws -> (status: Int, body: String) {
        try httpGet(port: metricsPort, path: path)
    }
}

/// The database a test's Lookout writes: the `--db` in `arguments` if there is one (kept), none
/// with `--no-db`, otherwise a fresh temporary file (added to `arguments`, to remove afterwards).
func temporaryDatabase(_ arguments: inout [String]) -> (path: String?, owned: Bool) {
    if let index = arguments.firstIndex(of: "--db") { return (arguments[index + 1], false) }
    if arguments.contains("--no-db") { return (nil, false) }
    let path = "/tmp/lookout-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).db"
    arguments += ["--db", path]
    return (path, true)
}

/// Removes a database file and its WAL and shared-memory files.
package func removeDatabase(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
}

/// A minimal HTTP/1.1 GET over loopback, enough to scrape `/metrics`.
package func httpGet(port: Int, path: String, headers: [String] = []) throws -> (status: Int, body: String) {
    let connection = try TestConnection(port: port)
    let extra = headers.map { $0 + "\r\n" }.joined()
    try connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(extra)Connection: close\r\n\r\n")
    let response = String(decoding: connection.readUntilClosed(), as: UTF8.self)
    guard let statusLine = response.split(separator: "\r\n").first,
          let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }),
          let headerEnd = response.range(of: "\r\n\r\n") else {
        throw TestFailure("malformed HTTP response: \(response.prefix(200))")
    }
    let headers = response[..<headerEnd.lowerBound].lowercased()
    let body = String(response[headerEnd.upperBound...])
    return (status, headers.contains("transfer-encoding: chunked") ? dechunked(body) : body)
}

/// The body of a chunked HTTP/1.1 response: each chunk is a hex size line, then that many bytes.
package func dechunked(_ body: String) -> String {
    var bytes = Array(body.utf8)[...]
    var out: [UInt8] = []
    while let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\r")) {
        let sizeText = String(decoding: bytes[..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
        guard let size = Int(sizeText, radix: 16), size > 0, lineEnd + 2 + size <= bytes.endIndex else { break }
        out += bytes[(lineEnd + 2)..<(lineEnd + 2 + size)]
        bytes = bytes[min(bytes.endIndex, lineEnd + 2 + size + 2)...]
    }
    return String(decoding: out, as: UTF8.self)
}

/// Runs a command to completion with `input` on its standard input; returns status and output.
/// The wait is kept off the concurrency pool (``offThePool(_:)``).
package func runCommand(_ path: String, _ arguments: [String], input: String = "", seconds: Double = 60) async throws -> (status: Int32?, output: String) {
    try await offThePool { try runCommand(path, arguments, input: input, seconds: seconds) as (status: Int32?, output: String) }
}

/// The same, for callers that cannot wait asynchronously (a server's set-up in an initializer).
/// `seconds` bounds the wait (a nil status: still running then, and killed).
package func runCommand(_ path: String, _ arguments: [String], input: String = "", seconds: Double = 60) throws -> (status: Int32?, output: String) {
    let inputPath = "/tmp/lookout-test-input-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try input.write(toFile: inputPath, atomically: true, encoding: .utf8)
    defer { unlink(inputPath) }
    let quoted = ([path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    let child = try ChildProcess("/bin/sh", ["-c", "\(quoted) < '\(inputPath)'"])
    let status = child.waitForExit(seconds: seconds)
    return (status, child.output())
}
