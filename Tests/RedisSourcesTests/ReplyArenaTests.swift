import CHiredis
import LookoutCore
import LookoutTestSupport
import Testing

@testable import RedisSources

/// hiredis's reader building replies in a ``ReplyArena`` gives exactly what it gives with its
/// own objects, whatever the replies and however the bytes are split across reads.
@Suite struct ReplyArenaTests {
    /// Random replies as RESP2: nested arrays, strings up to past an arena block, integers,
    /// null bulk strings and arrays, status and error lines.
    private func randomReply(_ random: inout SplitMix64, depth: Int = 0) -> [UInt8] {
        switch random.next() % (depth < 3 ? 7 : 5) {
        case 0:
            let length = random.next() % 10 == 0 ? Int(random.next() % 150_000) : Int(random.next() % 40)
            return Array("$\(length)\r\n".utf8) + (0..<length).map { _ in UInt8(random.next() % 256) } + Array("\r\n".utf8)
        case 1: return Array(":\(Int64(bitPattern: random.next()) >> 20)\r\n".utf8)
        case 2: return Array((random.next() % 2 == 0 ? "$-1\r\n" : "*-1\r\n").utf8)
        case 3: return Array("+OK \(random.next() % 100)\r\n".utf8)
        case 4: return Array("-ERR moved \(random.next() % 100)\r\n".utf8)
        default:
            let count = Int(random.next() % 5)
            return Array("*\(count)\r\n".utf8) + (0..<count).flatMap { _ in randomReply(&random, depth: depth + 1) }
        }
    }

    /// Feeds `stream` in pieces cut at `cuts` and converts every complete reply.
    private func read(_ stream: [UInt8], cuts: [Int], arena: ReplyArena?) -> [RedisReply] {
        let reader = redisReaderCreate()!
        defer { redisReaderFree(reader) }
        arena?.adopt(reader)
        var replies: [RedisReply] = []
        var start = 0
        for end in cuts + [stream.count] where end >= start {
            stream[start..<end].withUnsafeBufferPointer { piece in
                piece.withMemoryRebound(to: CChar.self) { _ = redisReaderFeed(reader, $0.baseAddress, piece.count) }
            }
            start = end
            while true {
                var reply: UnsafeMutableRawPointer?
                guard redisReaderGetReply(reader, &reply) == REDIS_OK, let reply else { break }
                replies.append(RedisConnection.convert(reply.assumingMemoryBound(to: redisReply.self)))
                if let arena { arena.reset() } else { freeReplyObject(reply) }
            }
        }
        return replies
    }

    @Test(arguments: [1, 2, 3, 4])
    func buildsWhatHiredisBuilds(seed: UInt64) {
        var random = SplitMix64(state: seed)
        let stream = (0..<300).flatMap { _ in randomReply(&random) }
        let cuts = (0..<40).map { _ in Int(random.next() % UInt64(stream.count)) }.sorted()
        let expected = read(stream, cuts: cuts, arena: nil)
        #expect(expected.count == 300)
        #expect(read(stream, cuts: cuts, arena: ReplyArena()) == expected)
    }
}
