import Foundation
import LookoutTestSupport
import RESP
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What `make install` and `make deb` ship, checked on the binary they ship: `make test` builds
/// it (`make dist-build`) and names it in `LOOKOUT_DIST_BIN` for this suite, which runs after
/// the release tests. Every test lays the files out with the Makefile's own targets.
/// The binary under test: `make test` sets it; without it the suite does not run.
private let shippedBinary = ProcessInfo.processInfo.environment["LOOKOUT_DIST_BIN"]

@Suite(.serialized, .enabled(if: shippedBinary != nil, "runs in `make test`'s packaging step, on the binary `make install` ships"))
struct PackagingTests {
    static let packageRoot = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../..").standardized.path

    /// Runs `make TARGET` in the package with `variables`; returns its output, or fails the test.
    /// Five minutes at most: `deb-files` runs lintian over the 50 MB binary, which took more
    /// than the usual minute on a clean-clone run beside another build.
    private func make(_ target: String, _ variables: [String: String]) throws -> String {
        let result = try runCommand("/usr/bin/make", ["--no-print-directory", "-C", Self.packageRoot, target, "LOOKOUT_BIN=\(shippedBinary!)"]
                                    + variables.map { "\($0)=\($1)" }, seconds: 300)
        guard result.status == 0 else { throw TestFailure("make \(target) failed (\(String(describing: result.status))):\n\(result.output)") }
        return result.output
    }

    private func temporaryDirectory() throws -> String {
        let path = "/tmp/lookout-package-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private static let installed = [
        "usr/bin/lookout", "etc/lookout/lookout.yaml", "usr/lib/systemd/system/lookout.service",
        "usr/share/lookout/lookout.example.yaml", "usr/share/lookout/alerts.yml",
        "usr/share/lookout/dashboards/lookout-overview.json", "usr/share/lookout/dashboards/lookout-consumer.json",
        "usr/share/man/man1/lookout.1.gz", "usr/share/doc/lookout/README.md",
    ]

    @Test func installLaysOutTheFilesAndTheBinaryNeedsNoSwiftToolchain() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try make("install-files", ["DESTDIR": root, "PREFIX": "/usr", "SYSCONFDIR": "/etc"])
        for file in Self.installed {
            #expect(FileManager.default.fileExists(atPath: "\(root)/\(file)"), "make install did not install \(file)")
        }
        let binary = "\(root)/usr/bin/lookout"
        let libraries = try runCommand("/usr/bin/ldd", [binary])
        #expect(libraries.status == 0)
        let swiftDirectory = URL(filePath: try executable("swift")).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent().path
        for line in libraries.output.split(separator: "\n") {
            #expect(!line.contains(swiftDirectory) && !line.contains("not found") && !line.contains("libswift") && !line.contains("Foundation"),
                    "the installed binary still needs \(line)")
        }
        #expect(libraries.output.contains("libhiredis") && libraries.output.contains("libsqlite3"))
        let file = try runCommand("/usr/bin/file", [binary])
        #expect(file.output.contains("stripped") && !file.output.contains("not stripped"), "\(file.output)")
        // The unit, as installed, is one systemd accepts; `--version` names the commit.
        let unit = try String(contentsOfFile: "\(root)/usr/lib/systemd/system/lookout.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/lookout serve --config /etc/lookout/lookout.yaml") && unit.contains("Type=notify"))
        let version = try runCommand("/usr/bin/env", ["-i", binary, "--version"])
        #expect(version.status == 0 && version.output.contains("(commit ") && !version.output.contains("commit unknown"), "\(version.output)")
        let manual = try runCommand("/bin/sh", ["-c", "gzip -dc '\(root)/usr/share/man/man1/lookout.1.gz' | groff -man -Tutf8 2>&1 >/dev/null"])
        #expect(manual.status == 0 && manual.output.isEmpty, "groff: \(manual.output)")
    }

    /// The installed unit passes `systemd-analyze verify` (where its paths exist: installed
    /// under a temporary prefix, since systemd checks that ExecStart can be run).
    @Test func theUnitVerifies() throws {
        let prefix = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        _ = try make("install-files", ["PREFIX": prefix])
        let verify = try runCommand(try executable("systemd-analyze"), ["verify", "--man=no", "\(prefix)/lib/systemd/system/lookout.service"])
        #expect(verify.status == 0 && verify.output.isEmpty, "systemd-analyze verify: \(verify.output)")
        let security = try runCommand(try executable("systemd-analyze"), ["security", "--offline=yes", "\(prefix)/lib/systemd/system/lookout.service"])
        let level = security.output.firstMatch(of: /Overall exposure level for lookout.service: ([0-9.]+)/).flatMap { Double($0.1) }
        #expect(level.map { $0 <= 2 } == true, "exposure: \(security.output.suffix(300))")
    }

    @Test func theDebianPackageHasItsDependenciesAndTheInstallLayout() throws {
        let output = try make("deb-files", [:])
        let package = try #require(output.split(separator: "\n").first { $0.hasSuffix(".deb") }.map { "\(Self.packageRoot)/\($0)" })
        let info = try runCommand(try executable("dpkg-deb"), ["--field", package, "Depends", "Package", "Version"])
        #expect(info.output.contains("libhiredis0.14") && info.output.contains("libsqlite3-0") && info.output.contains("libc6 (>= "), "\(info.output)")
        #expect(!info.output.contains("swift"))
        let contents = try runCommand(try executable("dpkg-deb"), ["--contents", package])
        let files = Set(contents.output.split(separator: "\n").filter { $0.hasPrefix("-") }.compactMap { $0.split(separator: " ").last.map { String($0.dropFirst(2)) } })
        let debianFiles = ["usr/share/doc/lookout/copyright", "usr/share/doc/lookout/changelog.gz", "usr/share/lintian/overrides/lookout"]
        let expected = Set(Self.installed.map { $0.replacingOccurrences(of: "usr/lib/systemd", with: "lib/systemd") } + debianFiles)
        #expect(files == expected)
        let control = try runCommand(try executable("dpkg-deb"), ["--info", package])
        #expect(control.output.contains("conffiles") && control.output.contains("postinst"))
        // make test installs lintian (DIST_DEPS); it found no error or warning (make deb-files fails otherwise).
        #expect(output.contains("deb: lintian clean"), "\(output)")
    }

    /// The example configuration checks and starts `lookout serve` under `env -i` (nothing of the
    /// toolchain's environment), which tells systemd when it is ready and when it stops.
    @Test func theExampleConfigurationStartsTheInstalledBinaryWhichTalksToSystemd() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try make("install-files", ["DESTDIR": root, "PREFIX": "/usr", "SYSCONFDIR": "/etc"])
        let binary = "\(root)/usr/bin/lookout", example = "\(root)/usr/share/lookout/lookout.example.yaml"
        let check = try runCommand("/usr/bin/env", ["-i", binary, "config", "check", example])
        #expect(check.status == 0 && check.output.contains("is valid"), "\(check.output)")

        let notifications = try NotifySocket(path: "\(root)/notify.sock")
        let lookout = try LookoutProcess(arguments: ["--config", example, "--db", "\(root)/lookout.db"], binary: binary,
                                         environment: ["NOTIFY_SOCKET": notifications.path, "WATCHDOG_USEC": "400000"])
        let ready = try notifications.receive(seconds: 10)
        #expect(ready.contains("READY=1") && ready.contains("STATUS=relay on 127.0.0.1:\(lookout.port)"), "\(ready)")
        #expect(try notifications.receive(seconds: 5) == "WATCHDOG=1")
        let ping = try TestConnection(port: lookout.port)
        #expect(try ping.call("PING") == .simpleString("PONG"))
        let metrics = try lookout.get("/metrics")
        #expect(metrics.body.contains("lookout_build_info{version=\"2.0.0\",commit=\"") && !metrics.body.contains("commit=\"unknown\""))
        // SIGHUP (systemctl reload) with nothing to reload: logged, Lookout goes on.
        kill(lookout.child.pid, SIGHUP)
        #expect(blockingEventually { lookout.child.output().contains("SIGHUP: nothing to reload") } != nil)
        #expect(lookout.child.isRunning)
        #expect(lookout.child.stop() == 0)
        var messages: [String] = []
        while let message = try? notifications.receive(seconds: 1) { messages.append(message) }
        #expect(messages.contains("STOPPING=1"), "\(messages)")
    }

    @Test func aBrokenConfigurationIsRefusedByCheckWithServesError() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let broken = "\(root)/broken.yaml"
        try "relay:\n  max_clients: -1\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let check = try runCommand(shippedBinary!, ["config", "check", broken])
        let serve = try runCommand(shippedBinary!, ["serve", "--config", broken, "--no-db"])
        let error = "relay.max_clients: expected a whole number greater than 0"
        #expect(check.status == 2 && check.output.contains(error), "\(check.output)")
        #expect(serve.status == 2 && serve.output.contains(error), "\(serve.output)")
        // A file it names that cannot be used: the same error from both, naming the file.
        try "metrics:\n  auth: bearer:\(root)/missing.token\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let checkFiles = try runCommand(shippedBinary!, ["config", "check", broken])
        let serveFiles = try runCommand(shippedBinary!, ["serve", "--config", broken, "--no-db", "--relay", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        #expect(checkFiles.status == 2 && checkFiles.output.contains("\(root)/missing.token"), "\(checkFiles.output)")
        #expect(serveFiles.status == 2 && serveFiles.output.contains("\(root)/missing.token"), "\(serveFiles.output)")
    }
}

/// A `NOTIFY_SOCKET` as systemd opens it: a Unix datagram socket the service sends to.
private final class NotifySocket {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.utf8.enumerated() { bytes[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard descriptor >= 0, bound == 0 else { throw TestFailure("cannot bind \(path): errno \(errno)") }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// The next datagram, waiting up to `seconds`.
    func receive(seconds: Double) throws -> String {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { throw TestFailure("no notification within \(seconds)s") }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}
