import NIOCore
import RESP

/// The encoded message frames of one publish. The first receiver of each protocol gets the
/// message encoded straight into its outbox; every later one gets a copy of those bytes from
/// there, so a publish builds no frame of its own and allocates nothing. Pattern receivers get
/// theirs encoded straight into their outbox (each pattern makes a different frame).
struct MessageFrames {
    let channel: ByteBuffer
    let payload: ByteBuffer
    let sharded: Bool
    /// Where the first receiver's frame was written, per protocol.
    private var resp2: EncodedFrame?
    private var resp3: EncodedFrame?

    private struct EncodedFrame {
        let outbox: OutputBuffer
        let offset: Int
        let length: Int
    }

    init(channel: ByteBuffer, payload: ByteBuffer, sharded: Bool) {
        self.channel = channel
        self.payload = payload
        self.sharded = sharded
    }

    /// Appends the message, as `version` and `pattern` want it, to `outbox`.
    mutating func write(to outbox: OutputBuffer, version: RESPVersion, pattern: ByteBuffer?) {
        if let pattern {
            encode(version, pattern: pattern, into: outbox)
            return
        }
        if let frame = version == .resp2 ? resp2 : resp3 {
            outbox.append(copyOf: frame.length, at: frame.offset, in: frame.outbox)
            return
        }
        let offset = outbox.count
        encode(version, pattern: nil, into: outbox)
        let frame = EncodedFrame(outbox: outbox, offset: offset, length: outbox.count - offset)
        if version == .resp2 { resp2 = frame } else { resp3 = frame }
    }

    private func encode(_ version: RESPVersion, pattern: ByteBuffer?, into outbox: OutputBuffer) {
        let kind: StaticString = pattern != nil ? "$8\r\npmessage\r\n" : (sharded ? "$8\r\nsmessage\r\n" : "$7\r\nmessage\r\n")
        outbox.reserve(channel.readableBytes + payload.readableBytes + (pattern?.readableBytes ?? 0) + 64)
        outbox.appendRESPHeader(version == .resp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"), pattern != nil ? 4 : 3)
        outbox.append(kind)
        if let pattern { outbox.appendBulkString(pattern) }
        outbox.appendBulkString(channel)
        outbox.appendBulkString(payload)
    }
}
