#if canImport(Glibc)
import Glibc
#endif

/// Gives each channel name a small, stable number the first time it is seen, found from the
/// name's bytes as a reader holds them (a hiredis reply, a network buffer) without building a
/// `String` or an array per message. A reader counts into arrays indexed by that number and
/// decides what depends only on the channel (its name as text, its contract, its kind) once.
///
/// Open addressing over a power-of-two table at most half full; names are kept end to end in
/// one byte array. Hashing is Swift's seeded `Hasher`, so names chosen to collide cannot slow it
/// down. `tag` keeps namespaces apart (classic and shard channels of the same name).
public struct ChannelIndex {
    private var slots: [Int32]
    private var hashes: [Int] = []
    private var starts: [Int] = []
    private var lengths: [Int32] = []
    private var tags: [UInt8] = []
    private var names: [UInt8] = []

    public init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: -1, count: size)
    }

    /// Channels numbered so far: their numbers are `0..<count`.
    public var count: Int { starts.count }

    /// Bytes of all the names kept (to bound the index by: ``removeAll()`` starts afresh).
    public var storedBytes: Int { names.count }

    /// The number of the channel named `name` in namespace `tag`, and whether it is new.
    @inlinable @inline(__always)
    public mutating func number(of name: UnsafeRawBufferPointer, tag: UInt8 = 0) -> (number: Int, isNew: Bool) {
        var hasher = Hasher()
        hasher.combine(bytes: name)
        hasher.combine(tag)
        return number(of: name, tag: tag, hash: hasher.finalize())
    }

    @usableFromInline
    mutating func number(of name: UnsafeRawBufferPointer, tag: UInt8, hash: Int) -> (number: Int, isNew: Bool) {
        let mask = slots.count - 1
        var slot = hash & mask
        while true {
            let found = Int(slots[slot])
            if found < 0 { break }
            if hashes[found] == hash, tags[found] == tag, matches(found, name) { return (found, false) }
            slot = (slot + 1) & mask
        }
        let number = starts.count
        slots[slot] = Int32(number)
        hashes.append(hash)
        starts.append(names.count)
        lengths.append(Int32(name.count))
        tags.append(tag)
        names.append(contentsOf: name)
        if starts.count * 2 > slots.count { grow() }
        return (number, true)
    }

    /// The name of channel `number`, as bytes.
    public func name(_ number: Int) -> ArraySlice<UInt8> {
        names[starts[number]..<(starts[number] + Int(lengths[number]))]
    }

    /// The namespace channel `number` was numbered in.
    public func tag(_ number: Int) -> UInt8 { tags[number] }

    /// Forgets every channel: numbers start from 0 again.
    public mutating func removeAll() {
        for index in slots.indices { slots[index] = -1 }
        hashes.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        tags.removeAll(keepingCapacity: true)
        names.removeAll(keepingCapacity: true)
    }

    private func matches(_ number: Int, _ name: UnsafeRawBufferPointer) -> Bool {
        guard Int(lengths[number]) == name.count else { return false }
        return names.withUnsafeBytes { stored in
            name.isEmpty || memcmp(stored.baseAddress! + starts[number], name.baseAddress!, name.count) == 0
        }
    }

    private mutating func grow() {
        let size = slots.count * 2
        var grown = [Int32](repeating: -1, count: size)
        let mask = size - 1
        for number in hashes.indices {
            var slot = hashes[number] & mask
            while grown[slot] >= 0 { slot = (slot + 1) & mask }
            grown[slot] = Int32(number)
        }
        slots = grown
    }
}
