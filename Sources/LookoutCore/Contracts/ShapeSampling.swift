/// How many messages of channels without a contract go to shape inference: at most
/// ``perChannel`` a second of each channel and ``perSource`` a second of each source, so that
/// inference costs a bounded amount whatever the traffic. Each source keeps its own windows on
/// its own thread.
public enum ShapeSampling {
    public static let perChannel = 100
    public static let perSource = 2_000
    /// Larger payloads are not sampled (a shape is learnt from ordinary events).
    public static let maxPayloadBytes = 64 << 10

    /// A budget of `limit` messages a second, counted from the first message of each second.
    public struct Window: Sendable {
        public let limit: Int
        private var start = -Double.infinity
        private var taken = 0

        public init(limit: Int) {
            self.limit = limit
        }

        /// Whether one more message would fit at `now`, taking nothing.
        public func hasRoom(at now: Double) -> Bool { now - start >= 1 || taken < limit }

        /// Whether one more message fits at `now` (seconds, any clock), taking it if so.
        public mutating func take(at now: Double) -> Bool {
            if now - start >= 1 {
                start = now
                taken = 0
            }
            guard taken < limit else { return false }
            taken += 1
            return true
        }
    }
}

/// The monitor's inferred shapes, one per channel without a contract (at most ``maxChannels``),
/// and which took in payloads since they were last handed to the store.
public struct InferredShapes: Sendable {
    public static let maxChannels = 1_000
    /// Seconds between two hand-overs of the changed shapes to the store.
    public static let storeInterval = 5.0

    public private(set) var shapes: [String: PayloadShape] = [:]
    private var changed: Set<String> = []
    private var lastTaken = -Double.infinity

    public init() {}

    /// Takes back the shapes a previous run stored (at most ``maxChannels``), so that what was
    /// learnt is neither learnt again nor overwritten in the store by less.
    public mutating func restore(_ saved: [String: PayloadShape]) {
        for (channel, shape) in saved.sorted(by: { $0.key < $1.key }) where shapes.count < Self.maxChannels { shapes[channel] = shape }
    }

    /// Merges `payload` into `channel`'s shape; returns the fields and types it added when that
    /// is a shape change (the shape had settled), else nil.
    public mutating func merge(_ payload: [UInt8], into channel: String) -> [String]? {
        if shapes[channel] == nil {
            guard shapes.count < Self.maxChannels else { return nil }
            shapes[channel] = PayloadShape()
        }
        let wasSettled = shapes[channel]!.settled
        let added = shapes[channel]!.merge(payload)
        changed.insert(channel)
        return wasSettled && !added.isEmpty ? added : nil
    }

    /// The shapes that took in payloads since the last hand-over, once ``storeInterval`` has passed.
    public mutating func takeDue(at now: Double) -> [(channel: String, shape: PayloadShape)] {
        guard !changed.isEmpty, now - lastTaken >= Self.storeInterval else { return [] }
        lastTaken = now
        return takeChanged()
    }

    /// The shapes that took in payloads since the last hand-over, at once (at a stop: what the
    /// last seconds taught, a shape settled again, is not lost to the next run).
    public mutating func takeChanged() -> [(channel: String, shape: PayloadShape)] {
        defer { changed.removeAll() }
        return changed.sorted().map { ($0, shapes[$0]!) }
    }
}
