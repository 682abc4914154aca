#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+; Swift's Glibc module does not
/// export it), looked up once.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
}()

/// Starts `path` with `arguments`: standard input from `standardInput` (a descriptor) or
/// /dev/null, output and errors to the file `output`, no other descriptor of the runner's,
/// no signal blocked; with `ownGroup`, as the leader of a new process group.
func spawn(_ path: String, _ arguments: [String], standardInput: Int32?, output: String, ownGroup: Bool) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let standardInput {
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // Nothing else of the test runner's: NIO's accepted sockets are not close-on-exec, and a
    // child holding a copy of an in-process relay's connection keeps it open after the relay
    // closes it (the peer then waits for a FIN that never comes).
    _ = addCloseFrom?(&actions, 3)
    // The test runner's threads block some signals; the child must start with none blocked
    // and default handlers, or SIGTERM would never reach it.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var defaultSignals = sigset_t()
    sigemptyset(&defaultSignals)
    for signal in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD] { sigaddset(&defaultSignals, signal) }
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
    var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
    if ownGroup {
        posix_spawnattr_setpgroup(&attributes, 0)
        flags |= POSIX_SPAWN_SETPGROUP
    }
    posix_spawnattr_setflags(&attributes, Int16(flags))
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var child: pid_t = 0
    let result = posix_spawn(&child, path, &actions, &attributes, argv, environ)
    guard result == 0 else { throw TestFailure("could not start \(path): error \(result)") }
    return child
}

/// Kills the process groups of the children still running when the test runner ends, however
/// it ends (a crash, SIGKILL, a timeout): a shell holding one end of a socket pair whose other
/// end only the runner has. The runner tells it each group started and ended; when the socket
/// reaches end of file (the kernel closes it as the runner dies), it kills what is left.
/// Nothing is left behind then: no redis-server, Prometheus or Chromium holding ports and CPU.
final class ChildReaper: Sendable {
    static let shared = ChildReaper()

    /// The runner's end of the socket pair; -1 when the reaper could not be started.
    private let socket: Int32

    private init() {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            socket = -1
            return
        }
        let script = """
            groups=' '
            while read -r line; do
              case $line in
                -*) groups=$(printf '%s' "$groups" | sed "s/ ${line#-} / /") ;;
                *) groups="$groups$line " ;;
              esac
            done
            for group in $groups; do kill -KILL "-$group" 2>/dev/null; done
            """
        let started = try? spawn("/bin/sh", ["-c", script], standardInput: ends[1], output: "/dev/null", ownGroup: true)
        close(ends[1])
        if started == nil {
            close(ends[0])
            socket = -1
        } else {
            socket = ends[0]
        }
    }

    func started(group: pid_t) { tell("\(group)\n") }
    func ended(group: pid_t) { tell("-\(group)\n") }

    private func tell(_ line: String) {
        guard socket >= 0 else { return }
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}

extension ChildProcess {
    /// Whether this process holds the socket listening on `port` (any address): another
    /// process that took a port found free, between the test's check and the child's bind,
    /// would otherwise pass for the child.
    package func isListening(on port: Int) -> Bool {
        let wanted = String(format: ":%04X", port)
        var inodes: Set<String> = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                // local address, remote address, state (0A: listening), …, inode.
                guard fields.count > 9, fields[1].hasSuffix(wanted), fields[3] == "0A" else { continue }
                inodes.insert("socket:[\(fields[9])]")
            }
        }
        guard !inodes.isEmpty, let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return false }
        return descriptors.contains { descriptor in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(descriptor)")).map(inodes.contains) ?? false
        }
    }

    /// Waits up to `seconds` until this process listens on `port`, holding no thread while it
    /// waits; throws with its output when it exits first or never does.
    package func waitUntilListening(on port: Int, seconds: Double = 10) async throws {
        let deadline = TestConnection.now() + seconds
        while TestConnection.now() < deadline {
            if isListening(on: port) { return }
            guard isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("\(name) is not listening on port \(port): \(output().suffix(300))")
    }
}

/// Starts a server on a free loopback port, tried up to five times: `launch` starts it on the
/// port given, and the port counts only once the child itself listens on it. A child that lost
/// the port to another process exits at once (and the next port is tried); one that is still
/// starting is waited for, up to a minute: Prometheus, starting beside the whole suite on two
/// cores, has taken more than ten seconds to listen, and starting it afresh only began again.
package func startOnFreePort(_ launch: (Int) throws -> ChildProcess) async throws -> (port: Int, child: ChildProcess) {
    var lastError: (any Error)?
    for _ in 0..<5 {
        let port = try freeLoopbackPort()
        let child = try launch(port)
        do {
            try await child.waitUntilListening(on: port, seconds: 60)
            return (port, child)
        } catch {
            await child.stop()
            lastError = error
        }
    }
    throw lastError ?? TestFailure("no free port")
}
