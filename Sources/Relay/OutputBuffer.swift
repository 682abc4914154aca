import NIOCore

/// A connection's pending output: one region of memory the relay appends replies and messages
/// to, reused from one flush to the next (nothing is allocated once it has grown to the
/// traffic), and handed to the socket in one call.
///
/// An append is a bounds check and a copy: no reference counting, uniqueness or exclusivity
/// check per write, which is what each append to a `ByteBuffer` costs. Only the relay's event
/// loop touches it.
final class OutputBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes written since the last ``clear()``.
    private(set) var count = 0
    /// Clears in a row that found less than a quarter of the capacity used: after
    /// ``shrinkAfter`` of them the region halves, so one burst does not hold memory for the
    /// connection's lifetime.
    private var underusedClears = 0

    static let initialCapacity = 512
    static let shrinkAfter = 64

    init(capacity: Int = OutputBuffer.initialCapacity) {
        self.capacity = max(capacity, 16)
        self.base = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    var isEmpty: Bool { count == 0 }

    /// The bytes written so far.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Makes room for `extra` more bytes.
    @inline(__always)
    func reserve(_ extra: Int) {
        if count + extra > capacity { resize(to: max(capacity * 2, count + extra)) }
    }

    private func resize(to newCapacity: Int) {
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Forgets what was written (it has gone to the socket, or to NIO), keeping the memory.
    func clear() {
        if count < capacity / 4 && capacity > Self.initialCapacity {
            underusedClears += 1
            if underusedClears >= Self.shrinkAfter {
                underusedClears = 0
                count = 0
                resize(to: max(Self.initialCapacity, capacity / 2))
            }
        } else {
            underusedClears = 0
        }
        count = 0
    }

    @inline(__always)
    func append(byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    func append(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { append($0) }
    }

    @inline(__always)
    func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends `length` bytes this buffer or another holds from `offset` (a frame already
    /// encoded for an earlier receiver of the same message).
    @inline(__always)
    func append(copyOf length: Int, at offset: Int, in source: OutputBuffer) {
        reserve(length)  // first: when `source` is this buffer, its base may move
        (base + count).copyMemory(from: source.base + offset, byteCount: length)
        count += length
    }

    /// Appends `value` in decimal ASCII.
    @inline(__always)
    func append(decimal value: Int) {
        reserve(20)
        var magnitude = value.magnitude
        if value < 0 {
            base.storeBytes(of: UInt8(ascii: "-"), toByteOffset: count, as: UInt8.self)
            count += 1
        }
        var digits = 1
        var rest = magnitude
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        var index = count + digits
        repeat {
            index -= 1
            base.storeBytes(of: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10), toByteOffset: index, as: UInt8.self)
            magnitude /= 10
        } while magnitude > 0
        count += digits
    }

    /// Appends a RESP header: a type byte, `value` in decimal and `\r\n`.
    @inline(__always)
    func appendRESPHeader(_ type: UInt8, _ value: Int) {
        append(byte: type)
        append(decimal: value)
        appendCRLF()
    }

    @inline(__always)
    func appendCRLF() {
        reserve(2)
        base.storeBytes(of: UInt16(0x0D0A).bigEndian, toByteOffset: count, as: UInt16.self)
        count += 2
    }

    /// Appends a RESP bulk string: `$<length>\r\n<bytes>\r\n`.
    @inline(__always)
    func appendBulkString(_ bytes: ByteBuffer) {
        appendRESPHeader(UInt8(ascii: "$"), bytes.readableBytes)
        append(bytes)
        appendCRLF()
    }
}
