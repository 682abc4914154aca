import NIOCore
import RESP

/// The encoded message frames of one publish. The first receiver of each protocol gets the
/// message encoded straight into its outbox, which allocates nothing; a second one makes the
/// frame be built once and copied from then on. Pattern receivers always get theirs encoded
/// straight into their outbox.
struct MessageFrames {
    let channel: ByteBuffer
    let payload: ByteBuffer
    let sharded: Bool
    private var resp2: ByteBuffer?
    private var resp3: ByteBuffer?
    /// Whether a receiver without a pattern already got the message encoded directly, per protocol.
    private var wroteDirectly: (resp2: Bool, resp3: Bool) = (false, false)

    init(channel: ByteBuffer, payload: ByteBuffer, sharded: Bool) {
        self.channel = channel
        self.payload = payload
        self.sharded = sharded
    }

    /// Appends the message, as `version` and `pattern` want it, to `outbox`. A pattern's frame is
    /// encoded straight into each receiver's outbox: its bytes are copied there either way, and
    /// a cached frame would cost a buffer and a dictionary entry per message.
    mutating func write(to outbox: inout ByteBuffer, version: RESPVersion, pattern: ByteBuffer?) {
        if let pattern {
            encode(version, pattern: pattern, into: &outbox)
            return
        }
        let first = version == .resp2 ? !wroteDirectly.resp2 : !wroteDirectly.resp3
        if first {
            if version == .resp2 { wroteDirectly.resp2 = true } else { wroteDirectly.resp3 = true }
            encode(version, pattern: nil, into: &outbox)
            return
        }
        outbox.writeImmutableBuffer(frame(for: version))
    }

    mutating func frame(for version: RESPVersion) -> ByteBuffer {
        if version == .resp2 {
            if let resp2 { return resp2 }
            resp2 = encode(.resp2, pattern: nil)
            return resp2!
        }
        if let resp3 { return resp3 }
        resp3 = encode(.resp3, pattern: nil)
        return resp3!
    }

    private func encode(_ version: RESPVersion, pattern: ByteBuffer?) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(channel.readableBytes + payload.readableBytes + (pattern?.readableBytes ?? 0) + 48)
        encode(version, pattern: pattern, into: &buffer)
        return buffer
    }

    private func encode(_ version: RESPVersion, pattern: ByteBuffer?, into buffer: inout ByteBuffer) {
        let kind: StaticString = pattern != nil ? "$8\r\npmessage\r\n" : (sharded ? "$8\r\nsmessage\r\n" : "$7\r\nmessage\r\n")
        buffer.writeRESPHeader(version == .resp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"), pattern != nil ? 4 : 3)
        buffer.writeStaticString(kind)
        if let pattern { buffer.writeBulkString(pattern) }
        buffer.writeBulkString(channel)
        buffer.writeBulkString(payload)
    }
}
