/// Per-channel traffic as plain numbers: what `/api/v1/channels` shows and what the store
/// records. Keys are labels from ``ChannelGrouping``; time is passed in.
public struct ChannelStatistics: Sendable {
    /// One channel's traffic over one bucket (the time between two ticks): what the store keeps.
    public struct Bucket: Sendable, Hashable {
        public var channel: String
        /// Whole seconds since the epoch at the bucket's start.
        public var start: Int64
        public var messages: UInt64
        public var bytes: UInt64
        public var unrouted: UInt64
        /// Subscribers at the end of the bucket.
        public var subscribers: Int
        public var latency: LatencyDigest

        public init(channel: String, start: Int64, messages: UInt64, bytes: UInt64, unrouted: UInt64, subscribers: Int,
                    latency: LatencyDigest = .init()) {
            self.channel = channel
            self.start = start
            self.messages = messages
            self.bytes = bytes
            self.unrouted = unrouted
            self.subscribers = subscribers
            self.latency = latency
        }
    }

    /// An idle channel is still recorded this often (seconds), so its subscribers show in history.
    public static let idleSampleInterval: Double = 60

    /// One channel's (or group's) numbers.
    public struct Channel: Sendable, Hashable, Codable {
        public var messages: UInt64 = 0
        public var bytes: UInt64 = 0
        /// Messages published while nobody was subscribed.
        public var unrouted: UInt64 = 0
        public var subscribers: Int = 0
        /// Pattern subscriptions that receive it (see ``PatternConsumers``).
        public var patternSubscribers: Int = 0
        /// Whether nobody can tell if it is consumed: no subscriber, while patterns that cannot
        /// be attributed exist on a Redis source (never reported as without consumers).
        public var consumptionUnknown = false
        /// Messages per second over the last rate window.
        public var messagesPerSecond: Double = 0
        public var bytesPerSecond: Double = 0
        /// Seconds since the epoch of the last message, if any.
        public var lastMessageAt: Double?
        /// The 99th percentile delivery latency over the last rate window, if anything was delivered.
        public var latencyP99: Double?

        public init() {}
    }

    public private(set) var channels: [String: Channel] = [:]
    private var previous: [String: (messages: UInt64, bytes: UInt64, unrouted: UInt64)] = [:]
    private var previousTick: Double?
    private var latencies: [String: LatencyDigest] = [:]
    /// When each channel was last put in a bucket, and with how many subscribers.
    private var lastSampled: [String: (at: Double, subscribers: Int)] = [:]

    public init() {}

    /// Counts one message of `bytes` published on `label`; `receivers` 0 means nobody got it.
    public mutating func recordMessage(label: String, bytes: Int, receivers: Int?, at time: Double) {
        record(label: label, messages: 1, bytes: bytes, unrouted: receivers == 0 ? 1 : 0, at: time)
    }

    /// Counts `messages` messages of `bytes` bytes in all, `unrouted` of which reached nobody.
    public mutating func record(label: String, messages: Int, bytes: Int, unrouted: Int, at time: Double) {
        Self.count(&channels[label, default: Channel()], messages: messages, bytes: bytes, unrouted: unrouted, at: time)
    }

    /// One lookup per batch: the entry is updated in place.
    private static func count(_ channel: inout Channel, messages: Int, bytes: Int, unrouted: Int, at time: Double) {
        channel.messages += UInt64(messages)
        channel.bytes += UInt64(bytes)
        channel.lastMessageAt = time
        channel.unrouted += UInt64(unrouted)
    }

    /// Adds one delivery latency of `label` to the current bucket.
    public mutating func recordLatency(label: String, seconds: Double, count: Int = 1) {
        latencies[label, default: LatencyDigest()].record(seconds, count: count)
    }

    /// Sets the current subscriber count of `label`.
    public mutating func setSubscribers(label: String, count: Int) {
        channels[label, default: Channel()].subscribers = count
    }

    /// Sets every channel's subscriber count at once; labels not in `counts` have none.
    public mutating func replaceSubscribers(_ counts: [String: Int]) {
        // In place, by index: a lookup per channel and a copy of the table cost more than the rest.
        for index in channels.indices { channels.values[index].subscribers = counts.isEmpty ? 0 : counts[channels.keys[index]] ?? 0 }
        for (label, count) in counts where channels[label] == nil { setSubscribers(label: label, count: count) }
    }

    /// Sets what ``PatternConsumers`` judged of every channel; `assess` is asked once per channel.
    public mutating func assessPatterns(_ assess: (String, Channel) -> PatternConsumers.Assessment) {
        for index in channels.indices {
            let assessment = assess(channels.keys[index], channels.values[index])
            channels.values[index].patternSubscribers = assessment.patternSubscribers
            channels.values[index].consumptionUnknown = assessment.unknown
        }
    }

    /// Recomputes rates from the counts since the previous tick, and returns the bucket that tick
    /// closes: every channel with traffic, a changed subscriber count, or no sample for
    /// ``idleSampleInterval``. The first tick's bucket holds everything counted before it (and
    /// sets no rate: there is no interval yet).
    @discardableResult
    public mutating func tick(now: Double) -> [Bucket] {
        defer {
            previousTick = now
            previous = channels.mapValues { ($0.messages, $0.bytes, $0.unrouted) }
            latencies = [:]
        }
        if let last = previousTick, now <= last { return [] }
        let start = previousTick ?? (now - 1)
        let elapsed = previousTick.map { now - $0 }
        var buckets: [Bucket] = []
        for index in channels.indices {
            let (label, channel) = (channels.keys[index], channels.values[index])
            let before = previous[label] ?? (0, 0, 0)
            let messages = channel.messages - before.messages
            if let elapsed {
                channels.values[index].messagesPerSecond = Double(messages) / elapsed
                channels.values[index].bytesPerSecond = Double(channel.bytes - before.bytes) / elapsed
            }
            channels.values[index].latencyP99 = latencies.isEmpty ? nil : latencies[label]?.quantile(0.99)
            let sampled = lastSampled[label]
            guard messages > 0 || sampled?.subscribers != channel.subscribers
                || now - (sampled?.at ?? -.infinity) >= Self.idleSampleInterval else { continue }
            lastSampled[label] = (now, channel.subscribers)
            buckets.append(Bucket(channel: label, start: Int64(start.rounded(.down)), messages: messages,
                                  bytes: channel.bytes - before.bytes, unrouted: channel.unrouted - before.unrouted,
                                  subscribers: channel.subscribers, latency: latencies[label] ?? LatencyDigest()))
        }
        return buckets.sorted { $0.channel < $1.channel }
    }
}
