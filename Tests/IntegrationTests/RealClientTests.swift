#if canImport(Glibc)
import Glibc
#endif
import LookoutCore
import RESP
import RedisSources
import Testing
import LookoutTestSupport

/// Real Redis clients against the relay: redis-cli processes and hiredis.
@Suite(.serialized) struct RealClientTests {
    @Test func redisCliSubscribesAndPublishes() async throws {
        try await withRelay { relay in
            let cli = try executable("redis-cli")
            let subscriber = try ChildProcess(cli, ["-p", "\(relay.port)", "subscribe", "orders"])
            defer { subscriber.stop() }

            let admin = try TestConnection(port: relay.port)
            let deadline = TestConnection.now() + 10
            while try admin.call("PUBSUB", "NUMSUB", "orders").elements?.last != .integer(1) {
                guard TestConnection.now() < deadline else { throw TestFailure("redis-cli never subscribed") }
                usleep(20_000)
            }
            let publisher = try ChildProcess(cli, ["-p", "\(relay.port)", "publish", "orders", "hi"])
            #expect(publisher.waitForExit(seconds: 10) == 0)
            #expect(publisher.output() == "1\n", "PUBLISH returns the receiver count")

            while !subscriber.output().contains("message\norders\nhi") && TestConnection.now() < deadline { usleep(20_000) }
            #expect(subscriber.output() == "subscribe\norders\n1\nmessage\norders\nhi\n")
        }
    }

    @Test func hiredisPublishAndSubscribe() async throws {
        try await withRelay { relay in
            let url = try #require(RedisURL("redis://127.0.0.1:\(relay.port)"))
            let subscriber = try RedisConnection(url, clientName: nil, timeoutSeconds: 5)
            let publisher = try RedisConnection(url, clientName: nil, timeoutSeconds: 5)
            func bulk(_ text: String) -> RedisReply { .bytes(Array(text.utf8)) }
            #expect(try subscriber.command(["SUBSCRIBE", "orders.created"]) == .array([bulk("subscribe"), bulk("orders.created"), .integer(1)]))
            #expect(try subscriber.command(["PSUBSCRIBE", "orders.*"]) == .array([bulk("psubscribe"), bulk("orders.*"), .integer(2)]))
            let payload = "{\"id\":1}\r\n\u{0}tail"
            #expect(try publisher.command(["PUBLISH", "orders.created", payload]) == .integer(2))
            #expect(try subscriber.nextReply() == .array([bulk("message"), bulk("orders.created"), bulk(payload)]))
            #expect(try subscriber.nextReply() == .array([bulk("pmessage"), bulk("orders.*"), bulk("orders.created"), bulk(payload)]))
            #expect(try publisher.command(["PING"]) == .status("PONG"))
            #expect(try publisher.command(["NOPE"]) == .error("ERR unknown command 'NOPE', with args beginning with: "))
        }
    }

    @Test func perPublisherOrderIsKept() async throws {
        try await withRelay { relay in
            let subscriber = try TestConnection(port: relay.port)
            _ = try subscriber.call("SUBSCRIBE", "seq")
            let publisher = try TestConnection(port: relay.port)
            let count = 5000
            var pipeline: [UInt8] = []
            for i in 0..<count { pipeline += ScriptStep.encode([Array("PUBLISH".utf8), Array("seq".utf8), Array("\(i)".utf8)]) }
            try publisher.send(pipeline)
            _ = try publisher.readValues(count)
            let messages = try subscriber.readValues(count)
            #expect(messages.map { $0.elements?.last?.string ?? "" } == (0..<count).map(String.init))
        }
    }
}
