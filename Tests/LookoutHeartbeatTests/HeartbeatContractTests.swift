import Foundation
import Logging
import LookoutCore
import LookoutTestSupport
import NIOCore
import RESP
import Relay
import ServiceLifecycle
import Testing

@testable import LookoutHeartbeat

/// The contract between the library consumers link and the monitor: `Heartbeat.parse`
/// accepts exactly what `HeartbeatSender` sends, every field read back as sent.
@Suite struct HeartbeatContractTests {
    @Test func theSenderPublishesOnTheChannelTheMonitorListensToByDefault() {
        #expect(HeartbeatSender.Configuration(consumer: "c").heartbeatChannel == OwnChannels.heartbeat)
    }

    @Test(arguments: [
        (group: "billing" as String?, channels: ["orders.*", "payments"], progress: true, interval: Duration.milliseconds(1500)),
        (group: nil, channels: [], progress: false, interval: .seconds(5)),
    ])
    func everythingTheSenderSendsParsesBackAsSent(group: String?, channels: [String], progress: Bool, interval: Duration) throws {
        var configuration = HeartbeatSender.Configuration(consumer: "billing-worker-7")
        configuration.group = group
        configuration.channels = channels
        configuration.reportsProgress = progress
        configuration.interval = interval
        let sender = HeartbeatSender(configuration: configuration)
        sender.recordProcessed(41)
        sender.recordProcessed()
        sender.recordFailed(3)
        let sentAt = Date(timeIntervalSince1970: 1_800_000_000.25)
        for stopping in [false, true] {
            let heartbeat = try Heartbeat.parse(Array(sender.payload(stopping: stopping, now: sentAt).utf8)).get()
            #expect(heartbeat.consumer == "billing-worker-7")
            #expect(heartbeat.group == group)
            #expect(heartbeat.channels == channels)
            #expect(heartbeat.interval == interval.seconds)
            #expect(heartbeat.processed == (progress ? 42 : nil))
            #expect(heartbeat.failed == (progress ? 3 : nil))
            #expect(heartbeat.sentAt == 1_800_000_000.25)
            #expect(heartbeat.stopping == stopping)
            #expect(heartbeat.received == nil && heartbeat.pending == nil && heartbeat.lastEventAt == nil,
                    "progress fields the consumer never recorded are left out")
        }
    }

    @Test func backlogAndLastEventGoOutWhenRecorded() throws {
        let sender = HeartbeatSender(configuration: .init(consumer: "w"))
        sender.recordReceived(100)
        sender.recordReceived()
        sender.recordProcessed(60, publishedAt: Date(timeIntervalSince1970: 1_800_000_000.5))
        sender.setPending(41)
        var heartbeat = try Heartbeat.parse(Array(sender.payload().utf8)).get()
        #expect(heartbeat.received == 101)
        #expect(heartbeat.processed == 60)
        #expect(heartbeat.pending == 41)
        #expect(heartbeat.lastEventAt == 1_800_000_000.5)
        sender.setPending(nil)
        heartbeat = try Heartbeat.parse(Array(sender.payload().utf8)).get()
        #expect(heartbeat.pending == nil)
    }

    @Test func theSenderPublishesEveryIntervalAndSaysGoodbye() async throws {
        let relay = RelayServer(configuration: .init(host: "127.0.0.1", port: 0))
        let port = try #require(try await relay.start().port)
        let subscriber = try TestConnection(port: port)
        _ = try await subscriber.call("SUBSCRIBE", "lookout:heartbeat")
        var configuration = HeartbeatSender.Configuration(consumer: "w1")
        configuration.port = port
        configuration.interval = .milliseconds(50)
        let sender = HeartbeatSender(configuration: configuration)
        let group = ServiceGroup(services: [sender], logger: Logger(label: "test"))
        let running = startOnServiceThreads { try await group.run() }
        let beats = try await offThePool { try subscriber.readValues(2, timeoutSeconds: 10) }
        for beat in beats {
            let payload = try #require(beat.elements?.last?.string)
            #expect(try Heartbeat.parse(Array(payload.utf8)).get().stopping == false)
        }
        await group.triggerGracefulShutdown()
        try await running.value
        let rest = try await offThePool { try subscriber.read(until: { $0.elements?.last?.string?.contains("stopping") == true }).values }
        let goodbye = try #require(rest.last?.elements?.last?.string)
        #expect(try Heartbeat.parse(Array(goodbye.utf8)).get().stopping, "a clean goodbye")
        await relay.stop()
    }
}
