/// Per-channel traffic as plain numbers: what `/api/v1/channels` shows and what the store
/// records. Keys are labels from ``ChannelGrouping``; time is passed in.
public struct ChannelStatistics: Sendable {
    /// One channel's (or group's) numbers.
    public struct Channel: Sendable, Hashable, Codable {
        public var messages: UInt64 = 0
        public var bytes: UInt64 = 0
        /// Messages published while nobody was subscribed.
        public var unrouted: UInt64 = 0
        public var subscribers: Int = 0
        /// Messages per second over the last rate window.
        public var messagesPerSecond: Double = 0
        public var bytesPerSecond: Double = 0
        /// Seconds since the epoch of the last message, if any.
        public var lastMessageAt: Double?

        public init() {}
    }

    public private(set) var channels: [String: Channel] = [:]
    private var previous: [String: (messages: UInt64, bytes: UInt64)] = [:]
    private var previousTick: Double?

    public init() {}

    /// Counts one message of `bytes` published on `label`; `receivers` 0 means nobody got it.
    public mutating func recordMessage(label: String, bytes: Int, receivers: Int?, at time: Double) {
        channels[label, default: Channel()].messages += 1
        channels[label]!.bytes += UInt64(bytes)
        channels[label]!.lastMessageAt = time
        if receivers == 0 { channels[label]!.unrouted += 1 }
    }

    /// Sets the current subscriber count of `label`.
    public mutating func setSubscribers(label: String, count: Int) {
        channels[label, default: Channel()].subscribers = count
    }

    /// Sets every channel's subscriber count at once; labels not in `counts` have none.
    public mutating func replaceSubscribers(_ counts: [String: Int]) {
        for label in channels.keys { channels[label]!.subscribers = counts[label] ?? 0 }
        for (label, count) in counts where channels[label] == nil { setSubscribers(label: label, count: count) }
    }

    /// Recomputes rates from the counts since the previous tick.
    public mutating func tick(now: Double) {
        defer {
            previousTick = now
            previous = channels.mapValues { ($0.messages, $0.bytes) }
        }
        guard let last = previousTick, now > last else { return }
        let elapsed = now - last
        for (label, channel) in channels {
            let before = previous[label] ?? (0, 0)
            channels[label]!.messagesPerSecond = Double(channel.messages - before.messages) / elapsed
            channels[label]!.bytesPerSecond = Double(channel.bytes - before.bytes) / elapsed
        }
    }
}
