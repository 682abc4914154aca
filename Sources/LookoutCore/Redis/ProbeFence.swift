/// Holds what the poller learned (a named subscriber came or went) until the subscription has
/// delivered every message published before the poll: the poller publishes a probe after it
/// read `CLIENT LIST`, and what it learned is released when that probe comes back on the
/// subscription (Redis delivers one subscriber's messages in order), after the messages before it.
/// Without it a consumer that returned could be seen back before the messages it missed are counted.
public struct ProbeFence<Item: Sendable>: Sendable {
    private var parked: [(sentAt: Double, parkedAt: Double, items: [Item])] = []

    public init() {}

    /// Holds `items` until the probe sent at `sentAt` comes back.
    public mutating func park(_ items: [Item], behindProbeSentAt sentAt: Double, at now: Double) {
        guard !items.isEmpty else { return }
        parked.append((sentAt, now, items))
    }

    /// A probe came back: what was parked behind it or an earlier one, oldest first.
    public mutating func probeReceived(sentAt: Double) -> [Item] {
        release { $0.sentAt <= sentAt }
    }

    /// What has waited longer than `timeout` (its probe lost with a subscription): late is
    /// better than never.
    public mutating func expired(at now: Double, timeout: Double) -> [Item] {
        release { now - $0.parkedAt > timeout }
    }

    public var isEmpty: Bool { parked.isEmpty }

    private mutating func release(where due: ((sentAt: Double, parkedAt: Double, items: [Item])) -> Bool) -> [Item] {
        guard let last = parked.lastIndex(where: due) else { return [] }
        // Everything parked before a due entry is released with it: the order stays the poller's.
        let released = parked[...last].flatMap(\.items)
        parked.removeSubrange(...last)
        return released
    }
}
