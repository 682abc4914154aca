#if canImport(Glibc)
import Glibc
#endif
import CHiredis
import LookoutCore

/// One subscription reader's counts between two hand-overs to the monitor. A pushed message is
/// read in place from hiredis's reply: its channel is numbered by its bytes in a
/// ``ChannelIndex`` and counted into that number's entry; what depends only on the channel (its
/// name as text, whether it is the probe or the heartbeat channel, its contract, which of
/// Lookout's patterns owns it) is decided the first time it is seen. Nothing is built per message.
struct MessageTally {
    /// What a channel is to the source.
    enum Kind {
        case counted
        /// Lookout's probes: timed, never counted.
        case probe
        /// Consumers' heartbeats: counted, and each message handed to the heartbeat tracker.
        case heartbeat
    }

    /// One channel seen by this reader.
    struct Channel {
        var source: SourceChannel
        var kind: Kind
        /// Whether a contract covers it (its messages go to the integrity checks).
        var contracted: Bool
        /// Its sampling window for shape inference, when its messages are sampled.
        var samples: ShapeSampling.Window? = nil
        /// Which of Lookout's patterns delivers it (a message matching several comes once per
        /// pattern: only this one's copy is counted); nil for shard channels.
        var owner: Int?
        var messages = 0
        var bytes = 0
        var latencies: [Double] = []
    }

    /// A message as the tally saw it: to count, or what the reader still has to do with it.
    enum Seen {
        /// Not a pushed message (a confirmation, a PONG, an error): the reader's to handle.
        case other
        /// Counted (or a second copy through another pattern, dropped).
        case counted
        /// Counted, and a heartbeat, a contracted event or a sample to hand over.
        case handOver(channel: Int, payload: UnsafeRawBufferPointer)
        /// A probe come back.
        case probe(sharded: Bool, payload: UnsafeRawBufferPointer)
    }

    /// Past this many channels (or 4 MiB of names) the index starts afresh after a hand-over, so
    /// that a stream of ever-new channel names does not grow a reader's memory without bound.
    static let maxChannels = 100_000
    static let maxNameBytes = 4 << 20

    private var index = ChannelIndex(capacity: 1024)
    private(set) var channels: [Channel] = []
    /// This reader's sampling window for shape inference, all channels together.
    private var samples = ShapeSampling.Window(limit: ShapeSampling.perSource)
    /// Channels with counts since the last hand-over, in the order first counted.
    private(set) var touched: [Int] = []
    /// When the last hand-over was (monotonic seconds).
    var lastHandOver: Double

    init(now: Double) { lastHandOver = now }

    var isEmpty: Bool { touched.isEmpty }

    /// Reads `reply`: a `pmessage pattern channel payload` or `smessage channel payload` is
    /// counted; `describe` says what a channel seen for the first time is.
    @inline(__always)
    mutating func read(_ reply: UnsafePointer<redisReply>, patterns: [[UInt8]], envelope: EnvelopeTimestamp?, now: Double,
                       describe: (SourceChannel) -> Channel) -> Seen {
        let r = reply.pointee
        guard r.type == REDIS_REPLY_ARRAY, r.elements == 4 || r.elements == 3, let elements = r.element,
              let head = elements[0]?.pointee, head.type == REDIS_REPLY_STRING, head.len == 8 else { return .other }
        let sharded = r.elements == 3
        guard UnsafeRawPointer(head.str).loadUnaligned(as: UInt64.self) == (sharded ? Self.smessage : Self.pmessage),
              let channelReply = elements[sharded ? 1 : 2]?.pointee, let payloadReply = elements[sharded ? 2 : 3]?.pointee
        else { return .other }
        let name = UnsafeRawBufferPointer(start: channelReply.str, count: channelReply.len)
        let payload = UnsafeRawBufferPointer(start: payloadReply.str, count: payloadReply.len)
        let (number, isNew) = index.number(of: name, tag: sharded ? 1 : 0)
        if isNew {
            let source = SourceChannel(name: String(decoding: name, as: UTF8.self), sharded: sharded)
            channels.append(describe(source))
        }
        if patterns.count > 1, let owner = channels[number].owner, let patternReply = elements[1]?.pointee {
            // The same message again through another of Lookout's patterns.
            let pattern = UnsafeRawBufferPointer(start: patternReply.str, count: patternReply.len)
            guard pattern.elementsEqual(patterns[owner]) else { return .counted }
        }
        switch channels[number].kind {
        case .probe:
            return .probe(sharded: sharded, payload: payload)
        case .counted, .heartbeat:
            if channels[number].messages == 0 && channels[number].latencies.isEmpty { touched.append(number) }
            channels[number].messages += 1
            channels[number].bytes += payload.count
            if let envelope, let sentAt = envelope.seconds(in: payload) { channels[number].latencies.append(max(0, now - sentAt)) }
            if channels[number].kind == .heartbeat || channels[number].contracted { return .handOver(channel: number, payload: payload) }
            if channels[number].samples?.take(at: now) == true && samples.take(at: now) { return .handOver(channel: number, payload: payload) }
            return .counted
        }
    }

    /// Hands each channel counted since the last hand-over to `body`, in the order first counted,
    /// then starts the next batch; past ``maxChannels`` the index is forgotten too.
    mutating func drain(at now: Double, _ body: (_ index: Int, _ channel: Channel) -> Void) {
        for (index, number) in touched.enumerated() {
            body(index, channels[number])
            channels[number].messages = 0
            channels[number].bytes = 0
            channels[number].latencies.removeAll()
        }
        touched.removeAll(keepingCapacity: true)
        lastHandOver = now
        if index.count > Self.maxChannels || index.storedBytes > Self.maxNameBytes {
            index.removeAll()
            channels.removeAll()
        }
    }

    /// `pmessage` and `smessage` as the 8 bytes they are, to compare a reply's head in one load.
    private static let pmessage = word("pmessage")
    private static let smessage = word("smessage")

    private static func word(_ text: StaticString) -> UInt64 {
        UnsafeRawPointer(text.utf8Start).loadUnaligned(as: UInt64.self)
    }
}
