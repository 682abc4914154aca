import LookoutTestSupport
import Testing

@testable import LookoutCore

@Suite struct ChannelIndexTests {
    private func number(_ index: inout ChannelIndex, _ name: [UInt8], tag: UInt8 = 0) -> (number: Int, isNew: Bool) {
        name.withUnsafeBytes { index.number(of: $0, tag: tag) }
    }

    @Test func numbersAreStableAndGivenInOrderOfFirstSight() {
        var index = ChannelIndex()
        #expect(number(&index, Array("orders".utf8)) == (0, true))
        #expect(number(&index, Array("jobs".utf8)) == (1, true))
        #expect(number(&index, Array("orders".utf8)) == (0, false))
        #expect(number(&index, Array("orders".utf8), tag: 1) == (2, true), "a shard channel of the same name is another channel")
        #expect(number(&index, []) == (3, true), "the empty name is a name")
        #expect(number(&index, []) == (3, false))
        #expect(Array(index.name(1)) == Array("jobs".utf8) && index.tag(2) == 1)
        #expect(index.count == 4)
        index.removeAll()
        #expect(index.count == 0 && index.storedBytes == 0)
        #expect(number(&index, Array("jobs".utf8)) == (0, true), "numbering starts afresh")
    }

    /// Against a dictionary, over random names (many sharing prefixes, some binary), through
    /// several growths of the table.
    @Test(arguments: [1, 2, 3])
    func agreesWithADictionary(seed: UInt64) {
        var random = SplitMix64(state: seed)
        var index = ChannelIndex(capacity: 4)
        var reference: [[UInt8]: Int] = [:]
        for _ in 0..<20_000 {
            let length = Int(random.next() % 12)
            let name = [UInt8](Array("ch:".utf8).prefix(length)) + (0..<Int(random.next() % 3)).map { _ in UInt8(random.next() % 256) }
            let tag = UInt8(random.next() % 2)
            let key = name + [tag]
            let (found, isNew) = number(&index, name, tag: tag)
            if let known = reference[key] {
                #expect(found == known && !isNew)
            } else {
                #expect(found == reference.count && isNew)
                reference[key] = found
            }
        }
        #expect(index.count == reference.count)
        for (key, known) in reference {
            #expect(Array(index.name(known)) == Array(key.dropLast()) && index.tag(known) == key.last!)
        }
    }
}
