#if canImport(Glibc)
import Glibc
#endif

/// Gives each channel name a small, stable number the first time it is seen, found from the
/// name's bytes as a reader holds them (a hiredis reply, a network buffer) without building a
/// `String` or an array per message. A reader counts into arrays indexed by that number and
/// decides what depends only on the channel (its name as text, its contract, its kind) once.
///
/// Open addressing over a power-of-two table at most half full; names are kept end to end in
/// one byte array. Names are hashed eight bytes at a time with multiply–xorshift rounds from a
/// random seed per index (Swift's `Hasher` took a sixth of a reader's time), so a set of names
/// that collides in one process does not in the next. `tag` keeps namespaces apart (classic and
/// shard channels of the same name).
public struct ChannelIndex {
    /// Where a channel's name is kept, and its namespace.
    private struct Entry {
        var start: Int
        var length: Int32
        var tag: UInt8
    }

    /// Each slot: the upper 32 bits of the name's hash and the channel's number + 1 (0: empty),
    /// so that a probe rejects other names without touching their entries.
    private var slots: [UInt64]
    private let seed = UInt64.random(in: .min ... .max)
    private var entries: [Entry] = []
    private var names: [UInt8] = []

    public init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
    }

    /// Channels numbered so far: their numbers are `0..<count`.
    public var count: Int { entries.count }

    /// Bytes of all the names kept (to bound the index by: ``removeAll()`` starts afresh).
    public var storedBytes: Int { names.count }

    /// The number of the channel named `name` in namespace `tag`, and whether it is new.
    public mutating func number(of name: UnsafeRawBufferPointer, tag: UInt8 = 0) -> (number: Int, isNew: Bool) {
        let hash = Self.hash(name, tag: tag, seed: seed)
        let mask = slots.count - 1
        let check = hash & 0xFFFF_FFFF_0000_0000
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let found = slots[slot]
            if found == 0 { break }
            if found & 0xFFFF_FFFF_0000_0000 == check {
                let number = Int(found & 0xFFFF_FFFF) - 1
                if entries[number].tag == tag && matches(entries[number], name) { return (number, false) }
            }
            slot = (slot + 1) & mask
        }
        let number = entries.count
        slots[slot] = check | UInt64(number + 1)
        entries.append(Entry(start: names.count, length: Int32(name.count), tag: tag))
        names.append(contentsOf: name)
        if entries.count * 2 > slots.count { grow() }
        return (number, true)
    }

    /// The name of channel `number`, as bytes.
    public func name(_ number: Int) -> ArraySlice<UInt8> {
        names[entries[number].start..<(entries[number].start + Int(entries[number].length))]
    }

    /// The namespace channel `number` was numbered in.
    public func tag(_ number: Int) -> UInt8 { entries[number].tag }

    /// Forgets every channel: numbers start from 0 again.
    public mutating func removeAll() {
        for index in slots.indices { slots[index] = 0 }
        entries.removeAll(keepingCapacity: true)
        names.removeAll(keepingCapacity: true)
    }

    private func matches(_ entry: Entry, _ name: UnsafeRawBufferPointer) -> Bool {
        guard Int(entry.length) == name.count else { return false }
        return names.withUnsafeBytes { stored in
            name.isEmpty || memcmp(stored.baseAddress! + entry.start, name.baseAddress!, name.count) == 0
        }
    }

    @inline(__always)
    private static func hash(_ bytes: UnsafeRawBufferPointer, tag: UInt8, seed: UInt64) -> UInt64 {
        var hash = seed ^ (UInt64(bytes.count) << 8 | UInt64(tag))
        var offset = 0
        while offset + 8 <= bytes.count {
            hash = mix(hash ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        if offset < bytes.count {
            var tail: UInt64 = 0
            for (shift, byte) in bytes[offset...].enumerated() { tail |= UInt64(byte) << (shift * 8) }
            hash = mix(hash ^ tail)
        }
        return mix(hash)
    }

    @inline(__always)
    private static func mix(_ value: UInt64) -> UInt64 {
        var mixed = (value ^ (value >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        mixed = (mixed ^ (mixed >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return mixed ^ (mixed >> 33)
    }

    /// Doubles the table. A slot keeps only the hash's upper half, so each name is hashed again.
    private mutating func grow() {
        var grown = [UInt64](repeating: 0, count: slots.count * 2)
        let mask = grown.count - 1
        names.withUnsafeBytes { stored in
            for (number, entry) in entries.enumerated() {
                let name = UnsafeRawBufferPointer(rebasing: stored[entry.start..<(entry.start + Int(entry.length))])
                let hash = Self.hash(name, tag: entry.tag, seed: seed)
                var slot = Int(truncatingIfNeeded: hash) & mask
                while grown[slot] != 0 { slot = (slot + 1) & mask }
                grown[slot] = (hash & 0xFFFF_FFFF_0000_0000) | UInt64(number + 1)
            }
        }
        slots = grown
    }
}
