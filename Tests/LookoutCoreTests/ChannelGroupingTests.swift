import Testing

@testable import LookoutCore

@Suite struct ChannelGroupingTests {
    @Test func rulesGroupChannels() {
        var grouping = ChannelGrouping(rules: [.init(pattern: "user:*:events"), .init(pattern: "orders.*", label: "orders")])
        #expect(grouping.label(for: "user:1:events") == "user:*:events")
        #expect(grouping.label(for: "user:2:events") == "user:*:events")
        #expect(grouping.label(for: "orders.created") == "orders")
        #expect(grouping.label(for: "payments") == "payments")
        #expect(grouping.trackedCount == 1, "grouped channels are not tracked one by one")
    }

    @Test func redisInternalChannelsAreExcludedByDefault() {
        var grouping = ChannelGrouping()
        #expect(grouping.label(for: "__keyspace@0__:foo") == nil)
        #expect(grouping.label(for: "__keyevent@0__:set") == nil)
        #expect(grouping.label(for: "__redis__:invalidate") == nil)
        var including = ChannelGrouping(exclusions: [])
        #expect(including.label(for: "__redis__:invalidate") == "__redis__:invalidate")
    }

    @Test func aMillionDistinctNamesStayUnderTheCap() {
        var grouping = ChannelGrouping(maxTrackedChannels: 1000)
        var labels: Set<String> = []
        for i in 0..<1_000_000 {
            let label = grouping.label(for: "session:\(i)")!
            if label == ChannelGrouping.overflowLabel { grouping.countOverflow(messages: 3) }
            labels.insert(label)
        }
        #expect(grouping.trackedCount == 1000)
        #expect(labels.count == 1001)
        #expect(labels.contains(ChannelGrouping.overflowLabel))
        #expect(grouping.overflowCount == 2_997_000, "messages, not questions")
        #expect(grouping.label(for: "session:999999") == ChannelGrouping.overflowLabel, "an overflowed channel stays overflowed")
        #expect(grouping.overflowCount == 2_997_000, "asking again counts nothing")
        #expect(grouping.label(for: "session:5") == "session:5", "tracked channels keep their own label")
    }
}

@Suite struct ChannelStatisticsTests {
    @Test func countsMessagesBytesAndUnrouted() {
        var statistics = ChannelStatistics()
        statistics.recordMessage(label: "orders", bytes: 10, receivers: 2, at: 100)
        statistics.recordMessage(label: "orders", bytes: 5, receivers: 0, at: 101)
        statistics.recordMessage(label: "audit", bytes: 1, receivers: nil, at: 102)
        #expect(statistics.channels["orders"]?.messages == 2)
        #expect(statistics.channels["orders"]?.bytes == 15)
        #expect(statistics.channels["orders"]?.unrouted == 1)
        #expect(statistics.channels["orders"]?.lastMessageAt == 101)
        #expect(statistics.channels["audit"]?.unrouted == 0, "an unknown receiver count is not a loss")
    }

    @Test func ratesComeFromTheCountsBetweenTicks() {
        var statistics = ChannelStatistics()
        statistics.tick(now: 0)
        for _ in 0..<30 { statistics.recordMessage(label: "c", bytes: 100, receivers: 1, at: 1) }
        statistics.tick(now: 2)
        #expect(statistics.channels["c"]?.messagesPerSecond == 15)
        #expect(statistics.channels["c"]?.bytesPerSecond == 1500)
        statistics.tick(now: 3)
        #expect(statistics.channels["c"]?.messagesPerSecond == 0)
    }

    @Test func subscribersAreReplacedAsAWhole() {
        var statistics = ChannelStatistics()
        statistics.replaceSubscribers(["a": 2, "b": 1])
        statistics.replaceSubscribers(["b": 3])
        #expect(statistics.channels["a"]?.subscribers == 0)
        #expect(statistics.channels["b"]?.subscribers == 3)
    }
}
