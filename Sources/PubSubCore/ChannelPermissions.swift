import Glob
import NIOCore

/// The channels a relay user may publish and subscribe to, with Redis 7's ACL semantics
/// (`&pattern`): a channel (PUBLISH, SUBSCRIBE, SPUBLISH, SSUBSCRIBE) is allowed when it matches
/// one of the globs; a PSUBSCRIBE pattern only when it is literally one of them; `*` among them
/// allows every channel and pattern (`allchannels`). No glob, no channel.
public struct ChannelPermissions: Sendable, Hashable {
    public let patterns: [String]
    public let allChannels: Bool
    private let patternBytes: [[UInt8]]

    public init(_ patterns: [String]) {
        self.patterns = patterns
        allChannels = patterns.contains("*")
        patternBytes = patterns.map { Array($0.utf8) }
    }

    public func allows(channel: ByteBuffer) -> Bool {
        allChannels || channel.withUnsafeReadableBytes { subject in
            patternBytes.contains { pattern in pattern.withUnsafeBytes { GlobPattern.matches(pattern: $0, subject: subject) } }
        }
    }

    public func allows(pattern: ByteBuffer) -> Bool {
        allChannels || patternBytes.contains { $0.elementsEqual(pattern.readableBytesView) }
    }
}
