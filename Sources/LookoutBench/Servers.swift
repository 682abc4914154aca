import CBenchSupport
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A server the benchmarks start on a free loopback port and stop at the end: Debian's
/// redis-server without persistence, `lookout serve`, or the C floor server.
final class ServerProcess {
    let name: String
    let port: Int
    let metricsPort: Int?
    private let process: Process
    private let directory: String

    private init(name: String, executable: String, arguments: [String], port: Int, metricsPort: Int?, directory: String) throws {
        self.name = name
        self.port = port
        self.metricsPort = metricsPort
        self.directory = directory
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: directory + "/\(name).log") ?? FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        bench_register_child(process.processIdentifier)
        try waitForListener(port: port)
        if let metricsPort { try waitForListener(port: metricsPort) }
    }

    /// - Parameter clusterNode: a Redis Cluster node (on a port below 55536: its bus listens on
    ///   port + 10000), not yet joined to any cluster.
    /// - Parameter cpu: the CPU to run on (through `taskset`), or nil for any.
    static func redis(clusterNode: Bool = false, cpu: Int? = nil) throws -> ServerProcess {
        let port = clusterNode ? try freeClusterNodePort() : try freeLoopbackPort()
        let directory = try temporaryDirectory("redis")
        let cluster = clusterNode ? ["--cluster-enabled", "yes", "--cluster-config-file", directory + "/nodes.conf", "--cluster-node-timeout", "5000"] : []
        let (path, pinning) = try pinned(try executable("redis-server"), cpu: cpu)
        return try ServerProcess(name: "redis", executable: path, arguments: pinning + [
            "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--loglevel", "warning", "--dir", directory,
        ] + cluster, port: port, metricsPort: nil, directory: directory)
    }

    /// `lookout serve` with the relay on, the store in a temporary directory, and `extra` flags.
    static func lookout(_ extra: [String] = [], name: String = "lookout", relay: Bool = true, cpu: Int? = nil) throws -> ServerProcess {
        let port = try freeLoopbackPort()
        let metricsPort = try freeLoopbackPort()
        let directory = try temporaryDirectory("lookout")
        _ = FileManager.default.createFile(atPath: directory + "/\(name).log", contents: nil)
        let (path, pinning) = try pinned(try lookoutBinary(), cpu: cpu)
        return try ServerProcess(name: name, executable: path, arguments: pinning + [
            "serve", "--relay", "127.0.0.1:\(port)", "--metrics", "127.0.0.1:\(metricsPort)", "--db", directory + "/lookout.db",
            "--log-level", "warning",
        ] + extra, port: relay ? port : metricsPort, metricsPort: metricsPort, directory: directory)
    }

    /// `program`, or `taskset` running it on `cpu`: the path to run and the arguments before its own.
    static func pinned(_ program: String, cpu: Int?) throws -> (String, [String]) {
        guard let cpu else { return (program, []) }
        return (try executable("taskset"), ["-c", "\(cpu)", program])
    }

    /// The floor server (Sources/CBenchSupport/floor.c), run by this executable in a process of
    /// its own so its CPU is measured as the others' is.
    static func floor() throws -> ServerProcess {
        let port = try freeLoopbackPort()
        let directory = try temporaryDirectory("floor")
        let this = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        return try ServerProcess(name: "floor", executable: this, arguments: ["--serve-floor", "\(port)"], port: port, metricsPort: nil,
                                 directory: directory)
    }

    var pid: Int32 { process.processIdentifier }

    /// Resident memory now, from /proc.
    var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return (line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0) * 1024
        }
        return 0
    }

    /// User + system CPU seconds used so far, from /proc.
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, utime 14 and stime 15 (1-based, whole line).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// SIGTERM, then SIGKILL after 3 s (a child can inherit a blocked SIGTERM from the thread
    /// that spawned it).
    func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(3)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        // LOOKOUT_BENCH_KEEP=1 keeps each server's directory (its log) for a look afterwards.
        if ProcessInfo.processInfo.environment["LOOKOUT_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(atPath: directory) }
    }

    deinit {
        stop()
    }
}

/// Samples a process's resident memory every 50 ms while a body runs; returns the peak.
func peakResidentBytes<T>(of server: ServerProcess, during body: () throws -> T) rethrows -> (T, Int) {
    let peak = Atomic<Int>(server.residentBytes)
    let done = Atomic<Bool>(false)
    let pid = server.pid
    let sampler = Thread {
        while !done.load(ordering: .relaxed) {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            if let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
               let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
                peak.store(max(peak.load(ordering: .relaxed), kilobytes * 1024), ordering: .relaxed)
            }
            usleep(50_000)
        }
    }
    sampler.start()
    defer { done.store(true, ordering: .relaxed) }
    let value = try body()
    return (value, peak.load(ordering: .relaxed))
}

func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw BenchError("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A free port below 55536 whose port + 10000 is free too (a cluster node's bus).
func freeClusterNodePort() throws -> Int {
    func free(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
    for _ in 0..<100 {
        let port = Int.random(in: 20_000...45_535)
        if free(port) && free(port + 10_000) { return port }
    }
    throw BenchError("no free cluster node port")
}

func waitForListener(port: Int, seconds: Double = 20) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if (try? WireConnection(port: port)) != nil { return }
        usleep(20_000)
    }
    throw BenchError("nothing listens on 127.0.0.1:\(port) after \(seconds) s")
}

func executable(_ name: String) throws -> String {
    for directory in ((ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/bin:/usr/sbin").split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    throw BenchError("\(name) not found (make bench installs redis-server and redis-tools)")
}

/// `lookout`, next to this executable.
func lookoutBinary() throws -> String {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let candidate = here.appendingPathComponent("lookout").path
    guard access(candidate, X_OK) == 0 else { throw BenchError("lookout not found next to lookout-bench: build it with swift build -c release") }
    return candidate
}

func temporaryDirectory(_ label: String) throws -> String {
    let path = NSTemporaryDirectory() + "lookout-bench-\(label)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A plain HTTP/1.1 GET over loopback (Connection: close): status and body, read up to its
/// Content-Length (or the end of the connection), waiting at most 10 s for each piece.
func httpGet(port: Int, path: String) throws -> (status: Int, body: [UInt8]) {
    let connection = try WireConnection(port: port)
    try connection.send(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
    var response: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
    defer { buffer.deallocate() }
    var expectedLength: Int?
    var headerEnd: Int?
    while true {
        if let headerEnd, let expectedLength, response.count - headerEnd >= expectedLength { break }
        let count = (try? connection.receive(into: buffer, timeoutMilliseconds: 10_000)) ?? 0
        if count <= 0 { break }
        response += buffer.prefix(count)
        if headerEnd == nil, let split = response.firstRange(of: [13, 10, 13, 10]) {
            headerEnd = split.upperBound
            let headers = String(decoding: response[..<split.lowerBound], as: UTF8.self).lowercased()
            if let line = headers.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }) {
                expectedLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
            }
        }
    }
    guard let headerEnd else { throw BenchError("bad HTTP response") }
    let status = Int(String(decoding: response[..<headerEnd], as: UTF8.self).split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, Array(response[headerEnd...]))
}
