#if canImport(Glibc)
import Glibc
#endif
import CHiredis

/// Where hiredis builds the replies of a subscription: one reusable block of memory instead of a
/// `malloc` and a `free` per reply object (five per pushed message). hiredis is given object
/// functions that carve each `redisReply`, its string and its element vector out of the arena;
/// the reader hands every complete reply to its visitor and then resets the arena, which is
/// safe because hiredis returns a reply as soon as it is complete, before it starts the next.
final class ReplyArena {
    private static let blockSize = 64 << 10
    /// The block reused from one reply to the next, and blocks added for a reply larger than it.
    private let first: UnsafeMutableRawPointer
    private var extra: [UnsafeMutableRawPointer] = []
    private var current: UnsafeMutableRawPointer
    private var used = 0
    private var capacity: Int

    init() {
        first = UnsafeMutableRawPointer.allocate(byteCount: Self.blockSize, alignment: 16)
        current = first
        capacity = Self.blockSize
    }

    deinit {
        first.deallocate()
        extra.forEach { $0.deallocate() }
    }

    /// Forgets every object: the next reply is built from the start of the first block.
    func reset() {
        if !extra.isEmpty {
            extra.forEach { $0.deallocate() }
            extra.removeAll(keepingCapacity: true)
        }
        current = first
        capacity = Self.blockSize
        used = 0
    }

    /// `size` bytes, 16-byte aligned, valid until the next ``reset()``.
    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let rounded = (size + 15) & ~15
        if used + rounded > capacity {
            let block = UnsafeMutableRawPointer.allocate(byteCount: max(rounded, Self.blockSize), alignment: 16)
            extra.append(block)
            current = block
            capacity = max(rounded, Self.blockSize)
            used = 0
        }
        defer { used += rounded }
        return current + used
    }

    /// Makes `reader` build its replies here (until the arena is gone: its owner keeps both).
    func adopt(_ reader: UnsafeMutablePointer<redisReader>) {
        reader.pointee.fn = Self.functions
        reader.pointee.privdata = Unmanaged.passUnretained(self).toOpaque()
    }

    /// The object functions hiredis calls, shared by every arena (each finds its own through the
    /// task's `privdata`). Objects are never freed one by one: the arena is reset instead.
    nonisolated(unsafe) private static let functions: UnsafeMutablePointer<redisReplyObjectFunctions> = {
        let functions = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
        functions.initialize(to: redisReplyObjectFunctions())
        functions.pointee.createString = { task, bytes, length in
            let reply = ReplyArena.object(task, type: task!.pointee.type)
            let copy = ReplyArena.arena(task).allocate(length + 1).assumingMemoryBound(to: CChar.self)
            if length > 0 { copy.update(from: bytes!, count: length) }
            copy[length] = 0
            reply.pointee.str = copy
            reply.pointee.len = length
            return UnsafeMutableRawPointer(reply)
        }
        functions.pointee.createArray = { task, count in
            let reply = ReplyArena.object(task, type: REDIS_REPLY_ARRAY)
            if count > 0 {
                let elements = ReplyArena.arena(task).allocate(Int(count) * MemoryLayout<UnsafeMutablePointer<redisReply>?>.stride)
                    .bindMemory(to: UnsafeMutablePointer<redisReply>?.self, capacity: Int(count))
                elements.initialize(repeating: nil, count: Int(count))
                reply.pointee.element = elements
            }
            reply.pointee.elements = Int(count)
            return UnsafeMutableRawPointer(reply)
        }
        functions.pointee.createInteger = { task, value in
            let reply = ReplyArena.object(task, type: REDIS_REPLY_INTEGER)
            reply.pointee.integer = value
            return UnsafeMutableRawPointer(reply)
        }
        functions.pointee.createNil = { task in
            UnsafeMutableRawPointer(ReplyArena.object(task, type: REDIS_REPLY_NIL))
        }
        functions.pointee.freeObject = { _ in }
        return functions
    }()

    private static func arena(_ task: UnsafePointer<redisReadTask>?) -> ReplyArena {
        Unmanaged<ReplyArena>.fromOpaque(task!.pointee.privdata).takeUnretainedValue()
    }

    /// A zeroed reply of `type`, attached to its parent array as hiredis's own functions do.
    private static func object(_ task: UnsafePointer<redisReadTask>?, type: Int32) -> UnsafeMutablePointer<redisReply> {
        let reply = arena(task).allocate(MemoryLayout<redisReply>.stride).bindMemory(to: redisReply.self, capacity: 1)
        reply.initialize(to: redisReply())
        reply.pointee.type = type
        if let parent = task!.pointee.parent, let array = parent.pointee.obj?.assumingMemoryBound(to: redisReply.self) {
            array.pointee.element[Int(task!.pointee.idx)] = reply
        }
        return reply
    }
}
