#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOEmbedded
import RESP
import Testing

@testable import Relay

/// Several relay connections on one EmbeddedEventLoop, driven byte for byte.
final class RelayHarness {
    let loop = EmbeddedEventLoop()
    let core: RelayCore

    init(configuration: RelayConfiguration = .init()) {
        core = RelayCore(eventLoop: loop, configuration: configuration, logger: .init(label: "test"))
    }

    func connect() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: RelayConnectionHandler(core: core, writesDirectly: true), loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6380)).wait()
        return channel
    }
}

extension EmbeddedChannel {
    /// Sends raw bytes as one read and returns everything written back.
    func send(_ text: String) throws -> String {
        try writeInbound(ByteBuffer(string: text))
        return drain()
    }

    func send(_ words: String...) throws -> String {
        var buffer = ByteBuffer()
        RESPRequest(arguments: words.map { ByteBuffer(string: $0) }).encode(into: &buffer)
        try writeInbound(buffer)
        return drain()
    }

    func drain() -> String {
        // The relay flushes at the end of the event-loop iteration.
        embeddedEventLoop.run()
        var out = ""
        while let chunk = try? readOutbound(as: ByteBuffer.self) { out += String(buffer: chunk) }
        return out
    }
}

@Suite struct RelayHandlerTests {
    @Test func pingEchoAndUnknownCommands() throws {
        let relay = RelayHarness()
        let client = try relay.connect()
        #expect(try client.send("PING\r\n") == "+PONG\r\n")
        #expect(try client.send("ECHO", "a\r\nb") == "$4\r\na\r\nb\r\n")
        #expect(try client.send("foo a b\r\n") == "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n")
        #expect(try client.send("echo\r\n") == "-ERR wrong number of arguments for 'echo' command\r\n")
        #expect(try client.send("pubsub foo\r\n") == "-ERR unknown subcommand 'foo'. Try PUBSUB HELP.\r\n")
        #expect(try client.send("PING\r\n") == "+PONG\r\n", "the connection stays usable after errors")
    }

    @Test func configResetstatResetsInfoButNotTheMonitorsCounters() throws {
        let relay = RelayHarness()
        let client = try relay.connect()
        for _ in 0..<3 { _ = try client.send("PUBLISH", "orders", "x") }
        #expect(try client.send("INFO", "stats").contains("lookout_messages_published:3\r\n"))
        #expect(try client.send("CONFIG", "RESETSTAT") == "+OK\r\n")
        let info = try client.send("INFO", "stats")
        #expect(info.contains("lookout_messages_published:0\r\n"))
        #expect(info.contains("total_commands_processed:1\r\n"), "INFO itself, since the reset: \(info)")
        _ = try client.send("PUBLISH", "orders", "y")
        #expect(try client.send("INFO", "stats").contains("lookout_messages_published:1\r\n"))
        #expect(relay.core.stats.messagesPublished == 4, "what the monitor exports as counters never goes back")
    }

    @Test func publishReachesChannelAndPatternSubscribers() throws {
        let relay = RelayHarness()
        let subscriber = try relay.connect()
        let publisher = try relay.connect()
        #expect(try subscriber.send("SUBSCRIBE", "orders") == "*3\r\n$9\r\nsubscribe\r\n$6\r\norders\r\n:1\r\n")
        #expect(try subscriber.send("PSUBSCRIBE", "ord*") == "*3\r\n$10\r\npsubscribe\r\n$4\r\nord*\r\n:2\r\n")
        #expect(try publisher.send("PUBLISH", "orders", "hi") == ":2\r\n")
        #expect(subscriber.drain() == "*3\r\n$7\r\nmessage\r\n$6\r\norders\r\n$2\r\nhi\r\n"
            + "*4\r\n$8\r\npmessage\r\n$4\r\nord*\r\n$6\r\norders\r\n$2\r\nhi\r\n")
        #expect(try publisher.send("PUBLISH", "nobody", "x") == ":0\r\n")
        #expect(relay.core.stats.messagesUnrouted == 1)
    }

    @Test func resp3SubscribersGetPushes() throws {
        let relay = RelayHarness()
        let subscriber = try relay.connect()
        let publisher = try relay.connect()
        let hello = try subscriber.send("HELLO", "3")
        #expect(hello.hasPrefix("%7\r\n$6\r\nserver\r\n"))
        #expect(try subscriber.send("SUBSCRIBE", "c") == ">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n")
        #expect(try subscriber.send("PING\r\n") == "+PONG\r\n", "RESP3 has no subscribed-mode restriction")
        _ = try publisher.send("PUBLISH", "c", "m")
        #expect(subscriber.drain() == ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n")
    }

    @Test func resp2SubscribedContextRestrictsCommands() throws {
        let relay = RelayHarness()
        let client = try relay.connect()
        _ = try client.send("SUBSCRIBE", "a")
        #expect(try client.send("CLIENT", "ID") ==
            "-ERR Can't execute 'client|id': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n")
        #expect(try client.send("PING\r\n") == "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        #expect(try client.send("UNSUBSCRIBE\r\n") == "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n")
        #expect(try client.send("UNSUBSCRIBE\r\n") == "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n")
        #expect(try client.send("PING\r\n") == "+PONG\r\n")
    }

    @Test func shardedChannelsAreSeparate() throws {
        let relay = RelayHarness()
        let subscriber = try relay.connect()
        let publisher = try relay.connect()
        #expect(try subscriber.send("SSUBSCRIBE", "s") == "*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n")
        #expect(try publisher.send("PUBLISH", "s", "x") == ":0\r\n")
        #expect(try publisher.send("SPUBLISH", "s", "y") == ":1\r\n")
        #expect(subscriber.drain() == "*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\ny\r\n")
        #expect(try publisher.send("PUBSUB", "SHARDNUMSUB", "s") == "*2\r\n$1\r\ns\r\n:1\r\n")
    }

    @Test func protocolErrorClosesTheConnection() throws {
        let relay = RelayHarness()
        let client = try relay.connect()
        #expect(try client.send("*1\r\n$-5\r\n") == "-ERR Protocol error: invalid bulk length\r\n")
        #expect(!client.isActive)
        #expect(relay.core.clients.isEmpty)
    }

    /// A peer that stopped answering TCP keep-alive probes (the kernel fails the read with
    /// ETIMEDOUT) is closed, its subscriptions dropped, and counted as reaped; another error is
    /// closed without being counted as one.
    @Test func aClientReapedByKeepaliveIsClosedAndCounted() throws {
        let relay = RelayHarness()
        let gone = try relay.connect()
        _ = try gone.send("SUBSCRIBE", "orders")
        gone.pipeline.fireErrorCaught(IOError(errnoCode: ETIMEDOUT, reason: "read"))
        relay.loop.run()
        #expect(!gone.isActive)
        #expect(relay.core.stats.keepaliveDisconnects == 1)
        let other = try relay.connect()
        #expect(try other.send("PUBSUB", "NUMSUB", "orders") == "*2\r\n$6\r\norders\r\n:0\r\n")
        other.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read"))
        relay.loop.run()
        #expect(!other.isActive)
        #expect(relay.core.stats.keepaliveDisconnects == 1, "a reset is not a keep-alive reaping")
    }

    @Test func disconnectDropsSubscriptions() throws {
        let relay = RelayHarness()
        let subscriber = try relay.connect()
        let other = try relay.connect()
        _ = try subscriber.send("SUBSCRIBE", "a", "b")
        _ = try subscriber.send("PSUBSCRIBE", "x*")
        #expect(try other.send("PUBSUB", "NUMPAT") == ":1\r\n")
        try subscriber.close().wait()
        #expect(try other.send("PUBSUB", "NUMSUB", "a") == "*2\r\n$1\r\na\r\n:0\r\n")
        #expect(try other.send("PUBSUB", "NUMPAT") == ":0\r\n")
        #expect(try other.send("PUBSUB", "CHANNELS") == "*0\r\n")
    }

    @Test func passwordIsRequired() throws {
        let relay = RelayHarness(configuration: .init(password: "s3cret"))
        let client = try relay.connect()
        #expect(try client.send("PUBLISH", "a", "b") == "-NOAUTH Authentication required.\r\n")
        #expect(try client.send("AUTH", "wrong") == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        #expect(try client.send("AUTH", "s3cret") == "+OK\r\n")
        #expect(try client.send("PUBLISH", "a", "b") == ":0\r\n")
        #expect(try client.send("RESET\r\n") == "+RESET\r\n")
        #expect(try client.send("PING\r\n") == "-NOAUTH Authentication required.\r\n")
        #expect(try client.send("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "w1").hasPrefix("%7\r\n"))
        #expect(try client.send("CLIENT", "GETNAME") == "$2\r\nw1\r\n")
    }

    @Test func clientReplyModes() throws {
        let relay = RelayHarness()
        let client = try relay.connect()
        #expect(try client.send("CLIENT REPLY SKIP\r\nPING\r\nPING\r\n") == "+PONG\r\n")
        #expect(try client.send("CLIENT REPLY OFF\r\nPING\r\n") == "")
        #expect(try client.send("CLIENT REPLY ON\r\nPING\r\n") == "+OK\r\n+PONG\r\n")
    }

    @Test func clientNamesListAndKill() throws {
        let relay = RelayHarness()
        let admin = try relay.connect()
        let worker = try relay.connect()
        #expect(try worker.send("CLIENT", "SETNAME", "billing-7") == "+OK\r\n")
        #expect(try worker.send("CLIENT", "SETNAME", "a b") == "-ERR Client names cannot contain spaces, newlines or special characters.\r\n")
        _ = try worker.send("SUBSCRIBE", "orders")
        let list = try admin.send("CLIENT", "LIST", "TYPE", "pubsub")
        #expect(list.contains("name=billing-7"))
        #expect(list.contains("sub=1 psub=0 ssub=0"))
        #expect(!list.contains("id=1 "), "the admin connection has no subscriptions")
        #expect(try admin.send("CLIENT", "KILL", "ID", "2") == ":1\r\n")
        #expect(!worker.isActive)
        #expect(try admin.send("INFO", "clients").contains("connected_clients:1\r\n"))
    }

    @Test func maxClientsRefusesExtraConnections() throws {
        let relay = RelayHarness(configuration: .init(maxClients: 1))
        _ = try relay.connect()
        let refused = try relay.connect()
        #expect(refused.drain() == "-ERR max number of clients reached\r\n")
        #expect(!refused.isActive)
    }

    @Test func halfRequestThenDisconnectIsCleanedUp() throws {
        let relay = RelayHarness()
        let client = try relay.connect()
        #expect(try client.send("*3\r\n$7\r\nPUBLISH\r\n$3\r\nab") == "")
        try client.close().wait()
        #expect(relay.core.clients.isEmpty)
    }

    @Test func observerSeesPublishesInRunsAndWantedMessagesWhole() throws {
        final class Recorder: RelayObserver, @unchecked Sendable {
            // @unchecked: only touched on the embedded loop, which is this test's thread.
            var publishes: [(String, Int, Int)] = []
            var runs: [String] = []
            var order: [String] = []
            var asked: [String] = []
            var events: [ClientObservation.Event] = []
            var observesDeliveries: Bool { false }
            func relayBeginsRun(on channel: ByteBuffer) -> RunInterest {
                asked.append(String(buffer: channel))
                return RunInterest(channelSlot: asked.count, wantsMessages: channel == ByteBuffer(string: "c"))
            }
            func relayDidPublish(_ o: PublishObservation) { publishes.append((String(buffer: o.channel), o.payloadBytes, o.receivers)) }
            func relayDidPublish(run: PublishRun) {
                runs.append("\(String(buffer: run.channel)) \(run.messages) \(run.bytes) \(run.unrouted) \(run.patternReceivers) #\(run.channelSlot)")
                order.append("run \(String(buffer: run.channel))")
            }
            func relayDidDeliver(_ o: DeliveryObservation) {}
            func relayClientDidChange(_ o: ClientObservation) {
                events.append(o.event)
                order.append("\(o.event)")
            }
        }
        let relay = RelayHarness()
        let recorder = Recorder()
        relay.core.observer = recorder
        let subscriber = try relay.connect()
        _ = try subscriber.send("SUBSCRIBE", "c")
        _ = try subscriber.send("PSUBSCRIBE", "c*")
        let publisher = try relay.connect()
        // One read batch: a run of two on c, one on d (nobody's), one more on c.
        _ = try publisher.send("PUBLISH c hello\r\nPUBLISH c hi\r\nPUBLISH d xyz\r\nPUBLISH c !\r\n")
        #expect(recorder.runs == ["c 2 7 0 1 #1", "d 1 3 1 0 #2", "c 1 1 0 1 #3"], "each run carries the slot given at its start")
        #expect(recorder.asked == ["c", "d", "c"], "asked once per run")
        #expect(recorder.publishes.map(\.0) == ["c", "c", "c"], "only the wanted channel's messages whole")
        #expect(recorder.publishes.first.map { $0 == ("c", 5, 2) } == true)
        #expect(recorder.events == [.connected, .subscriptionsChanged, .subscriptionsChanged, .connected])
        // A run is heard of before a client change that follows it, in the same batch.
        _ = try publisher.send("PUBLISH e 1\r\nCLIENT SETNAME p\r\nSUBSCRIBE x\r\n")
        #expect(recorder.runs.last == "e 1 1 1 0 #4")
        #expect(recorder.order.suffix(3) == ["run e", "named", "subscriptionsChanged"])
    }

    @Test func aNamedClientThatLeavesEverythingSaysWhatItHeld() throws {
        final class Recorder: RelayObserver, @unchecked Sendable {
            // @unchecked: only touched on the embedded loop, which is this test's thread.
            var left: [(ClientObservation.Event, [String], [String])] = []
            var observesDeliveries: Bool { false }
            func relayBeginsRun(on channel: ByteBuffer) -> RunInterest { RunInterest(channelSlot: 0, wantsMessages: false) }
            func relayDidPublish(_ o: PublishObservation) {}
            func relayDidPublish(run: PublishRun) {}
            func relayDidDeliver(_ o: DeliveryObservation) {}
            func relayClientDidChange(_ o: ClientObservation) {
                if !o.leftChannels.isEmpty || !o.leftPatterns.isEmpty { left.append((o.event, o.leftChannels.sorted(), o.leftPatterns)) }
            }
        }
        let relay = RelayHarness()
        let recorder = Recorder()
        relay.core.observer = recorder
        let client = try relay.connect()
        _ = try client.send("CLIENT", "SETNAME", "mailer")
        _ = try client.send("SUBSCRIBE", "a", "b")
        _ = try client.send("PSUBSCRIBE", "jobs.*")
        _ = try client.send("UNSUBSCRIBE", "a")
        #expect(recorder.left.isEmpty, "still subscribed to b and jobs.*")
        _ = try client.send("PUNSUBSCRIBE\r\n")  // one word: sent inline
        _ = try client.send("UNSUBSCRIBE\r\n")
        #expect(recorder.left.count == 1)
        #expect(recorder.left.first.map { $0.0 == .subscriptionsChanged && $0.1 == ["b"] && $0.2.isEmpty } == true)
        _ = try client.send("SUBSCRIBE", "c")
        try client.close().wait()
        #expect(recorder.left.last.map { $0.0 == .disconnected && $0.1 == ["c"] } == true, "\(recorder.left)")
    }
}

@Suite struct PublishRecognitionTests {
    @Test func publishIsRecognisedInAnyCaseAndNothingElseIs() {
        for word in ["publish", "PUBLISH", "PuBlIsH"] { #expect(RelayCore.isPublish(ByteBuffer(string: word)), "\(word)") }
        for word in ["publis", "publisher", "spublish", "publiss", "qublish", "PUBLISh ", "pub\u{0}ish", "p@blish"] {
            #expect(!RelayCore.isPublish(ByteBuffer(string: word)), "\(word)")
        }
    }
}
