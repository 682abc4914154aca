import NIOCore
import Testing

@testable import PubSubCore

@Suite struct SubscriptionRegistryTests {
    private func name(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    @Test func channelLifecycle() {
        var registry = SubscriptionRegistry<Int>()
        let first = registry.subscribe(1, to: name("orders"), kind: .channel)
        let again = registry.subscribe(1, to: name("orders"), kind: .channel)
        let second = registry.subscribe(2, to: name("orders"), kind: .channel)
        #expect(first && !again && second)
        #expect(registry.subscriberCount(of: name("orders"), kind: .channel) == 2)
        let removed = registry.unsubscribe(1, from: name("orders"), kind: .channel)
        let removedAgain = registry.unsubscribe(1, from: name("orders"), kind: .channel)
        #expect(removed && !removedAgain)
        #expect(registry.names(kind: .channel) == [name("orders")])
        registry.unsubscribe(2, from: name("orders"), kind: .channel)
        #expect(registry.names(kind: .channel).isEmpty, "a channel goes with its last subscriber")
    }

    @Test func receiversCountChannelAndPatternSubscriptions() {
        var registry = SubscriptionRegistry<Int>()
        registry.subscribe(1, to: name("orders.created"), kind: .channel)
        registry.subscribe(1, to: name("orders.*"), kind: .pattern)
        registry.subscribe(2, to: name("*"), kind: .pattern)
        registry.subscribe(3, to: name("payments.*"), kind: .pattern)
        registry.subscribe(4, to: name("orders.created"), kind: .shardChannel)
        var seen: [(Int, String?)] = []
        let count = registry.forEachReceiver(ofChannel: name("orders.created")) { subscriber, pattern in
            seen.append((subscriber, pattern.map { String(buffer: $0) }))
        }
        #expect(count == 3)
        #expect(seen.count == 3)
        #expect(seen.first.map { $0.0 == 1 && $0.1 == nil } == true, "direct subscribers come first")
        #expect(Set(seen.dropFirst().map { "\($0.0) \($0.1!)" }) == ["1 orders.*", "2 *"])
        #expect(registry.patternCount == 3)
        var shardReceivers: [Int] = []
        let shardCount = registry.forEachShardReceiver(ofChannel: name("orders.created")) { shardReceivers.append($0) }
        #expect(shardCount == 1 && shardReceivers == [4])
    }

    @Test func namesFilterByGlob() {
        var registry = SubscriptionRegistry<Int>()
        for channel in ["a.1", "a.2", "b.1"] { registry.subscribe(1, to: name(channel), kind: .channel) }
        #expect(Set(registry.names(kind: .channel, matching: name("a.*"))) == [name("a.1"), name("a.2")])
        #expect(registry.names(kind: .shardChannel).isEmpty)
    }

    @Test func storedNamesDoNotPinTheReceiveBuffer() {
        var registry = SubscriptionRegistry<Int>()
        var big = ByteBuffer(string: String(repeating: "x", count: 4096) + "orders")
        let slice = big.getSlice(at: 4096, length: 6)!
        registry.subscribe(1, to: slice, kind: .channel)
        big.clear()
        let stored = registry.names(kind: .channel)[0]
        #expect(stored.capacity < 4096)
    }
}

@Suite struct OutputBufferPolicyTests {
    let limits = OutputBufferPolicy.Limits(hardBytes: 1000, softBytes: 100, softSeconds: 10)

    @Test func hardLimitDisconnectsAtOnce() {
        var policy = OutputBufferPolicy(limits: limits)
        let below = policy.check(pendingBytes: 999, now: 0)
        let at = policy.check(pendingBytes: 1000, now: 0)
        #expect(below == .keep && at == .disconnectHardLimit)
    }

    /// Feeds (pending bytes, time) checks in order and returns the actions.
    private func replay(_ checks: [(Int, Double)], limits: OutputBufferPolicy.Limits) -> [OutputBufferPolicy.Action] {
        var policy = OutputBufferPolicy(limits: limits)
        return checks.map { policy.check(pendingBytes: $0.0, now: $0.1) }
    }

    @Test func softLimitNeedsTheWholePeriod() {
        #expect(replay([(150, 100), (150, 110), (150, 110.5)], limits: limits) == [.keep, .keep, .disconnectSoftLimit])
    }

    @Test func droppingBelowTheSoftLimitResetsTheClock() {
        #expect(replay([(150, 0), (50, 5), (150, 9), (150, 15), (150, 19.5)], limits: limits)
            == [.keep, .keep, .keep, .keep, .disconnectSoftLimit])
    }

    @Test func zeroLimitsAreOff() {
        #expect(replay([(Int.max, 0), (Int.max, 1e9)], limits: .init(hardBytes: 0, softBytes: 0, softSeconds: 0)) == [.keep, .keep])
    }

    @Test func parsesRedisSyntax() {
        #expect(OutputBufferPolicy.Limits(redisSyntax: "32mb 8mb 60") == .init())
        #expect(OutputBufferPolicy.Limits(redisSyntax: "1k 0 5") == .init(hardBytes: 1000, softBytes: 0, softSeconds: 5))
        #expect(OutputBufferPolicy.Limits(redisSyntax: "32mb 8mb") == nil)
        #expect(OutputBufferPolicy.Limits(redisSyntax: "x 8mb 60") == nil)
    }
}
