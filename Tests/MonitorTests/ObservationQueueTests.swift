import LookoutCore
import Testing

@testable import Monitor

@Suite struct ObservationQueueTests {
    @Test func aFullQueueCountsWhatItDrops() {
        let queue = ObservationQueue(capacity: 3)
        for i in 0..<5 { queue.offer(.traffic(channel: "c\(i)", messages: 1, bytes: 1, unrouted: 0, at: 0)) }
        #expect(queue.droppedCount == 2)
        #expect(queue.drain().count == 3)
        #expect(queue.drain().isEmpty)
        queue.offer(.latencies(channel: "c", seconds: [0.001]))
        #expect(queue.drain().count == 1)
    }
}
