#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RESP
import Testing
import LookoutTestSupport

/// The relay under bad input, slow subscribers and signals: a separate `lookout serve` process
/// where resident memory or a signal is the point, the application in process otherwise.
@Suite(.serialized) struct RelayResilienceTests {
    /// A number from INFO.
    private func info(_ connection: TestConnection, _ field: String) throws -> Int? {
        guard let text = try connection.call("INFO").string else { return nil }
        for line in text.split(separator: "\r\n") where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1))
        }
        return nil
    }

    @Test func slowSubscriberIsDisconnectedAndMemoryStaysBounded() throws {
        let relay = try LookoutProcess(arguments: ["--client-output-buffer-limit", "4mb 1mb 1"])
        let slow = try TestConnection(port: relay.port)
        _ = try slow.call("SUBSCRIBE", "flood")
        let fast = try TestConnection(port: relay.port)
        _ = try fast.call("SUBSCRIBE", "flood")
        let publisher = try TestConnection(port: relay.port)
        let admin = try TestConnection(port: relay.port)
        let baseline = try #require(relay.child.residentBytes(), "the relay's resident memory is readable from /proc")

        // Up to 256 MiB of 64 KiB messages, 1 MiB per batch; the slow subscriber never reads.
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        let batch = (0..<16).flatMap { _ in ScriptStep.encode([Array("PUBLISH".utf8), Array("flood".utf8), payload]) }
        var peak = baseline
        var sent = 0
        let deadline = TestConnection.now() + 60
        while sent < 4096 && TestConnection.now() < deadline {
            try publisher.send(batch)
            _ = try publisher.readValues(16)
            sent += 16
            _ = try fast.readValues(16, timeoutSeconds: 30)  // the healthy subscriber keeps up
            peak = max(peak, try #require(relay.child.residentBytes()))
            if sent % 256 == 0, try info(admin, "client_output_buffer_limit_disconnections") == 1 { break }
        }
        #expect(try info(admin, "client_output_buffer_limit_disconnections") == 1)
        #expect(try info(admin, "connected_clients") == 3, "the fast subscriber, the publisher and admin remain")
        let received = slow.readUntilClosed(timeoutSeconds: 20)
        #expect(slow.closedByPeer)
        #expect(received.count < 16 * 1024 * 1024, "the slow subscriber got at most the hard limit plus socket buffers, not \(received.count) bytes")
        // Stated bound: the relay's resident memory stays under baseline + 64 MiB while 256 MiB
        // could have queued for the slow subscriber.
        #expect(peak - baseline < 64 * 1024 * 1024, "peak RSS grew by \(peak - baseline) bytes")
        print("slow subscriber: \(sent) messages of 64 KiB sent, relay RSS baseline \(baseline >> 20) MiB, peak \(peak >> 20) MiB")
        #expect(try publisher.call("PUBLISH", "flood", "after") == .integer(1))
    }

    /// A malformed request and Redis's reply to it; described briefly, since some inputs are 70 KB.
    struct MalformedRequest: Sendable, CustomTestStringConvertible {
        var name: String
        var input: String
        var reply: String
        var testDescription: String { name }
    }

    static let malformedRequests: [MalformedRequest] = [
        .init(name: "negative bulk length", input: "*1\r\n$-5\r\n", reply: "-ERR Protocol error: invalid bulk length\r\n"),
        .init(name: "no $ before a bulk", input: "*2\r\nx\r\n", reply: "-ERR Protocol error: expected '$', got 'x'\r\n"),
        .init(name: "non-numeric count", input: "*abc\r\n", reply: "-ERR Protocol error: invalid multibulk length\r\n"),
        .init(name: "count over the limit", input: "*3000000000\r\n", reply: "-ERR Protocol error: invalid multibulk length\r\n"),
        .init(name: "bulk length overflow", input: "*1\r\n$99999999999999999999\r\n", reply: "-ERR Protocol error: invalid bulk length\r\n"),
        .init(name: "unbalanced quotes", input: "ping \"unterminated\r\n", reply: "-ERR Protocol error: unbalanced quotes in request\r\n"),
        .init(name: "bulk without CRLF", input: "*1\r\n$4\r\nPINGxx", reply: "-ERR Protocol error: expected '\\r\\n' after bulk data\r\n"),
        .init(name: "70 KB inline request", input: String(repeating: "a", count: 70_000),
              reply: "-ERR Protocol error: too big inline request\r\n"),
        .init(name: "70 KB count line", input: "*" + String(repeating: "1", count: 70_000),
              reply: "-ERR Protocol error: too big mbulk count string\r\n"),
    ]

    @Test(arguments: malformedRequests)
    func malformedRequestsGetAnErrorAndAClosedConnection(request: MalformedRequest) async throws {
        let relay = try await InProcessLookout(arguments: ["--no-db"])
        let client = try TestConnection(port: relay.port)
        try client.send(request.input)
        #expect(String(decoding: try await client.readUntilClosed(), as: UTF8.self) == request.reply)
        #expect(client.closedByPeer)
        let healthy = try TestConnection(port: relay.port)
        #expect(try await healthy.call("PING") == .simpleString("PONG"), "the relay keeps serving")
        try await relay.stop()
    }

    @Test func announcedHugeBulkIsNotAllocated() throws {
        // With the limit raised past 4 GB the relay must wait for the bytes, not reserve them.
        let relay = try LookoutProcess(arguments: ["--proto-max-bulk-len", "8gb"])
        let admin = try TestConnection(port: relay.port)
        let before = try #require(relay.child.residentBytes(), "the relay's resident memory is readable from /proc")
        let client = try TestConnection(port: relay.port)
        try client.send("*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$4294967296\r\n" + String(repeating: "x", count: 4096))
        #expect(try admin.call("PING") == .simpleString("PONG"))
        let after = try #require(relay.child.residentBytes())
        #expect(after - before < 16 * 1024 * 1024, "RSS grew by \(after - before) bytes")
        client.close()
        #expect(try blockingEventually { try info(admin, "connected_clients") == 1 } != nil)
    }

    @Test func defaultLimitRefusesA4GBBulk() async throws {
        let relay = try await InProcessLookout(arguments: ["--no-db"])
        let client = try TestConnection(port: relay.port)
        try client.send("*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$4294967296\r\n")
        #expect(String(decoding: try await client.readUntilClosed(), as: UTF8.self) == "-ERR Protocol error: invalid bulk length\r\n")
        try await relay.stop()
    }

    @Test func halfRequestThenDisconnectIsCleanedUp() async throws {
        let relay = try await InProcessLookout(arguments: ["--no-db"])
        let admin = try TestConnection(port: relay.port)
        for _ in 0..<20 {
            let client = try TestConnection(port: relay.port)
            try client.send("*3\r\n$7\r\nPUBLISH\r\n$6\r\norders\r\n$100\r\nonly part of it")
            client.close()
        }
        #expect(try await eventually { try info(admin, "connected_clients") == 1 } != nil)
        try await relay.stop()
    }

    @Test func sigtermShutsDownGracefully() throws {
        let relay = try LookoutProcess()
        let subscriber = try TestConnection(port: relay.port)
        _ = try subscriber.call("SUBSCRIBE", "orders")
        #expect(relay.child.stop(signal: SIGTERM, seconds: 10) == 0)
        _ = subscriber.readUntilClosed(timeoutSeconds: 5)
        #expect(subscriber.closedByPeer)
        #expect(relay.child.output().contains("relay shutting down"))
    }

    @Test func maxClientsIsEnforced() async throws {
        let relay = try await InProcessLookout(arguments: ["--no-db", "--max-clients", "2"])
        let first = try TestConnection(port: relay.port)
        #expect(try await eventually { try info(first, "connected_clients") == 1 } != nil)
        let second = try TestConnection(port: relay.port)
        #expect(try await second.call("PING") == .simpleString("PONG"))
        let third = try TestConnection(port: relay.port)
        #expect(String(decoding: try await third.readUntilClosed(), as: UTF8.self) == "-ERR max number of clients reached\r\n")
        try await relay.stop()
    }

    /// The keep-alive timer the system runs on the relay's side of each client connection, as
    /// `ss -o` shows it ("timer:(keepalive,6.9sec,0)"), or nil when there is none.
    /// The time left in `ss`'s `timer:(keepalive,6.9sec,0)` (also `993ms`, `1min58sec`), in seconds.
    static func seconds(inTimer timer: String) -> Double? {
        let text = timer.dropFirst("timer:(keepalive,".count).prefix { $0 != "," }
        let scales = ["ms": 0.001, "sec": 1.0, "min": 60.0]
        var (total, number, unit) = (0.0, "", "")
        func add() -> Bool {
            guard let value = Double(number), let scale = scales[unit] else { return false }
            total += value * scale
            (number, unit) = ("", "")
            return true
        }
        for character in text {
            if character.isLetter {
                unit.append(character)
            } else {
                if !unit.isEmpty, !add() { return nil }
                number.append(character)
            }
        }
        return add() ? total : nil
    }

    private func keepaliveTimer(relayPort: Int) async throws -> String? {
        let listing = try await runCommand(try executable("ss"), ["-tnoH", "state", "established", "( sport = :\(relayPort) )"])
        return listing.output.split(separator: "\n").compactMap { line in
            line.range(of: "timer:(keepalive,").map { String(line[$0.lowerBound...].prefix { $0 != ")" }) }
        }.first
    }

    /// A client that pipelines commands and never reads its replies is not read from once the
    /// replies back up (so the relay's memory stays bounded), everyone else is served meanwhile,
    /// and it is served again, every command answered, once it reads.
    @Test func aClientThatIgnoresItsRepliesIsNotReadUntilItDrainsThem() async throws {
        let lookout = try await InProcessLookout(arguments: ["--no-db"])
        let port = lookout.port
        let offered = 64 << 20
        let (accepted, bystanderServed, answered) = try await onOwnThread { () throws -> (Int, Bool, Int) in
            // Small buffers: its unread replies back up to the relay quickly, and what it sent
            // waits in the relay's buffers rather than its own.
            let greedy = try TestConnection(port: port, buffers: 4096)
            let chunk = Array(String(repeating: "PING\r\n", count: 10_000).utf8)
            var accepted = 0
            var lastProgress = TestConnection.now()
            // Until the relay stops taking more: two seconds without progress.
            while accepted < offered, TestConnection.now() - lastProgress < 2 {
                let taken = greedy.offer(chunk[(accepted % chunk.count)...])
                if taken > 0 {
                    accepted += taken
                    lastProgress = TestConnection.now()
                } else {
                    usleep(1_000)
                }
            }
            let bystander = try TestConnection(port: port)
            let served = try bystander.call("PING") == .simpleString("PONG")
            let pings = accepted / 6
            greedy.setReceiveBuffer(bytes: 4 << 20)
            return (accepted, served, greedy.discard(pings * 7, timeoutSeconds: 60) / 7)
        }
        #expect(accepted < offered / 2, "the relay stopped reading: \(accepted) of \(offered) bytes taken")
        #expect(bystanderServed, "everyone else is served meanwhile")
        #expect(answered == accepted / 6, "every PING it took is answered once the client reads")
        try await lookout.stop()
    }

    /// A subscriber whose socket fills while messages keep coming gets them all, in the order
    /// they were published: output goes straight to the socket until it is full, then through
    /// NIO until NIO has written it all, never around what NIO still holds.
    @Test func aSubscriberThatFallsBehindGetsEveryMessageInOrder() async throws {
        let lookout = try await InProcessLookout(arguments: ["--no-db"])
        let port = lookout.port
        let (received, inOrder) = try await onOwnThread { () throws -> (Int, Bool) in
            let subscriber = try TestConnection(port: port, buffers: 4096)
            _ = try subscriber.call("SUBSCRIBE", "seq")
            let publisher = try TestConnection(port: port)
            let padding = [UInt8](repeating: UInt8(ascii: "."), count: 1000)
            let total = 10_000
            for start in stride(from: 0, to: total, by: 100) {
                let batch = (start..<start + 100).flatMap { n in
                    ScriptStep.encode([Array("PUBLISH".utf8), Array("seq".utf8), Array("\(n):".utf8) + padding])
                }
                try publisher.send(batch)
                _ = try publisher.readValues(100)
            }
            subscriber.setReceiveBuffer(bytes: 4 << 20)
            let messages = try subscriber.readValues(total, timeoutSeconds: 60)
            let numbers = messages.compactMap { value -> Int? in
                guard let parts = value.elements, parts.count == 3, let payload = parts[2].string else { return nil }
                return Int(payload.prefix { $0 != ":" })
            }
            return (numbers.count, numbers == Array(0..<total))
        }
        #expect(received == 10_000)
        #expect(inOrder, "every message in the order it was published")
        try await lookout.stop()
    }

    @Test func clientSocketsHaveTCPKeepaliveAsRedisSetsIt() async throws {
        // Half-open peers (gone without FIN or RST) are reaped by the system's keep-alive probes;
        // that needs a peer whose kernel vanishes, which loopback cannot play, so this checks the
        // timer the relay asked for on a real socket.
        #expect(Self.seconds(inTimer: "timer:(keepalive,6.9sec,0)") == 6.9 && Self.seconds(inTimer: "timer:(keepalive,993ms,0)") == 0.993)
        #expect(Self.seconds(inTimer: "timer:(keepalive,1min58sec,0)") == 118 && Self.seconds(inTimer: "timer:(keepalive,,0)") == nil)
        let relay = try await InProcessLookout(arguments: ["--no-db", "--tcp-keepalive", "7"])
        let client = try TestConnection(port: relay.port)
        #expect(try await client.call("PING") == .simpleString("PONG"))
        let timer = try await keepaliveTimer(relayPort: relay.port)
        let seconds = try #require(timer.flatMap { Self.seconds(inTimer: $0) }, "a keep-alive timer with its time left on the relay's socket: \(timer ?? "none")")
        #expect(seconds > 0 && seconds <= 7, "idle time 7 s: \(timer ?? "")")
        try await relay.stop()

        let off = try await InProcessLookout(arguments: ["--no-db", "--tcp-keepalive", "0"])
        let other = try TestConnection(port: off.port)
        #expect(try await other.call("PING") == .simpleString("PONG"))
        #expect(try await keepaliveTimer(relayPort: off.port) == nil, "0 turns keep-alive off, as in Redis")
        try await off.stop()
    }
}

/// The harness itself: a child process must not keep the test runner's sockets alive.
@Suite struct ChildProcessTests {
    /// An in-process relay's accepted sockets are not close-on-exec (NIO's accept4 sets no
    /// SOCK_CLOEXEC): a child that inherited one would keep the connection open after the relay
    /// closed it. Every server a test spawns starts with its standard streams only.
    @Test func aChildInheritsOnlyItsStandardStreams() async throws {
        let inheritable = open("/dev/null", O_RDONLY)  // no O_CLOEXEC, like an accepted socket
        defer { close(inheritable) }
        #expect(inheritable > 2)
        let result = try await runCommand("/bin/sh", ["-c", "ls /proc/$$/fd"])
        let descriptors = Set(result.output.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) })
        #expect(!descriptors.contains(inheritable), "the child holds descriptor \(inheritable): \(descriptors.sorted())")
        #expect(descriptors.isSuperset(of: [0, 1, 2]))
    }
}
