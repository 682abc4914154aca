import ArgumentParser
import AsyncHTTPClient
import Foundation
import LookoutApplication
import LookoutCore
import NIOCore
import NIOHTTP1
import Reports

#if canImport(Glibc)
import Glibc
#endif

/// `lookout top`: a live terminal view of a running Lookout, from its JSON API (as
/// `redis-cli --stat` or `htop`): alerts firing, consumers by state, channels by rate, redrawn
/// every second until `q` or Ctrl-C. With `--once`, or when standard output is not a terminal,
/// one frame is printed.
struct TopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "A live view of a running Lookout: alerts firing, consumers by state, channels by rate (q or Ctrl-C leaves).")

    @OptionGroup var api: LookoutAPIOptions

    @Flag(help: "Print one frame and exit (also what happens when standard output is not a terminal).")
    var once = false


    func run() async throws {
        let api = try self.api.client()
        let base = api.base
        guard !once, isatty(1) == 1, isatty(0) == 1 else {
            print(try await frame(api, width: 80, rows: nil, colour: false), terminator: "")
            return
        }
        let terminal = RawTerminal()
        defer { terminal.restore() }
        while true {
            let (width, rows) = RawTerminal.size()
            let text: String
            do {
                text = try await frame(api, width: width, rows: rows, colour: true)
            } catch let failure as CommandFailure {
                text = "lookout top — \(base)\n\n\(failure.message)\n(retrying every second; q leaves)\n"
            }
            terminal.draw(text)
            if terminal.waitForQuit(seconds: 1) { return }
        }
    }

    /// One frame from the API's answers.
    private func frame(_ api: LookoutAPIClient, width: Int, rows: Int?, colour: Bool) async throws -> String {
        async let sources = api.get("/api/v1/sources")
        async let alerts = api.get("/api/v1/alerts?since=24h")
        async let consumers = api.get("/api/v1/consumers")
        async let channels = api.get("/api/v1/channels")
        async let notifications = api.get("/api/v1/notifications")
        let (s, a, c, ch, n) = try await (sources, alerts, consumers, channels, notifications)
        do {
            let view = try TopView(sources: s.body, alerts: a.status == 503 ? nil : a.body, consumers: c.body, channels: ch.body,
                                   notifications: n.status == 200 ? n.body : nil)
            return view.render(url: api.base, style: ReportStyle(now: wallClockSeconds(), width: width), rows: rows, colour: colour)
        } catch let error as TopView.TopError {
            throw CommandFailure("\(api.base): \(error.description)")
        }
    }
}

/// The terminal in raw mode on the alternate screen while `top` runs; put back as it was on
/// `restore()`, on `q`, and on Ctrl-C (which raw mode delivers as a byte, not a signal).
private final class RawTerminal {
    private var saved = termios()
    private var active = false

    init() {
        guard tcgetattr(0, &saved) == 0 else { return }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG)
        active = tcsetattr(0, TCSANOW, &raw) == 0
        write("\u{1B}[?1049h\u{1B}[?25l")  // alternate screen, cursor hidden
    }

    func restore() {
        guard active else { return }
        active = false
        write("\u{1B}[?25h\u{1B}[?1049l")
        _ = tcsetattr(0, TCSANOW, &saved)
    }

    func draw(_ text: String) {
        write("\u{1B}[H\u{1B}[2J" + text)  // output processing (OPOST) stays on: \n still returns the carriage
    }

    /// Waits up to `seconds` for a key; true when it is `q`, `Q` or Ctrl-C.
    func waitForQuit(seconds: Double) -> Bool {
        var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(seconds * 1000)) > 0 else { return false }
        var byte: UInt8 = 0
        guard read(0, &byte, 1) == 1 else { return true }  // stdin closed: leave
        return byte == UInt8(ascii: "q") || byte == UInt8(ascii: "Q") || byte == 3
    }

    static func size() -> (width: Int, rows: Int) {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return (80, 24) }
        return (Int(size.ws_col), Int(size.ws_row))
    }

    private func write(_ text: String) {
        _ = text.withCString { Glibc.write(1, $0, strlen($0)) }
    }

    deinit { restore() }
}
