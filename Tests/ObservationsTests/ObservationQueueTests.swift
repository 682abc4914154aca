import LookoutCore
import Testing

@testable import Observations

@Suite struct ObservationQueueTests {
    @Test func aFullQueueCountsWhatItDrops() {
        let queue = ObservationQueue(capacity: 3)
        for i in 0..<5 { queue.offer(.traffic(channel: "c\(i)", messages: 1, bytes: 1, unrouted: 0, at: 0)) }
        #expect(queue.droppedCount == 2)
        #expect(queue.drain().observations.count == 3)
        #expect(queue.drain().observations.isEmpty)
        queue.offer(.latencies(channel: "c", samples: [LatencySample(seconds: 0.001)]))
        #expect(queue.drain().observations.count == 1)
    }

    @Test func aBoundedDrainTakesTheOldestAndSaysWhetherThatWasAll() {
        let queue = ObservationQueue()
        for i in 0..<5 { queue.offer(.traffic(channel: "c\(i)", messages: 1, bytes: 1, unrouted: 0, at: Double(i))) }
        let first = queue.drain(limit: 2)
        #expect(first.observations.map(\.at) == [0, 1] && !first.all)
        let second = queue.drain(limit: 3)
        #expect(second.observations.map(\.at) == [2, 3, 4] && second.all)
        #expect(queue.drain(limit: 3).observations.isEmpty && queue.drain(limit: 3).all)
    }

    @Test func offeredAndTakenCountWhatWasAcceptedAndDrained() {
        let queue = ObservationQueue(capacity: 4)
        for i in 0..<6 { queue.offer(.traffic(channel: "c\(i)", messages: 1, bytes: 1, unrouted: 0, at: Double(i))) }
        #expect(queue.offeredCount == 4, "the two dropped are not offered")
        #expect(queue.takenCount == 0)
        _ = queue.drain(limit: 3)
        #expect(queue.takenCount == 3)
        _ = queue.drain()
        _ = queue.drain()
        #expect(queue.takenCount == 4 && queue.offeredCount == 4)
    }
}
