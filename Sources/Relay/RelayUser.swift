import Crypto
import NIOCore
import PubSubCore

/// A relay user, as Redis 7's ACL users for what a pub/sub broker needs: a name, a password kept
/// only as its SHA-256, whether it may log in, and the channels it may publish and subscribe to.
public struct RelayUser: Sendable, Hashable {
    public var name: String
    /// SHA-256 of the password (never the password itself).
    public var passwordHash: [UInt8]
    public var enabled: Bool
    public var channels: ChannelPermissions

    public init(name: String, password: String, enabled: Bool = true, channels: [String]) {
        self.init(name: name, passwordHash: Array(SHA256.hash(data: Array(password.utf8))), enabled: enabled, channels: channels)
    }

    public init(name: String, passwordHash: [UInt8], enabled: Bool = true, channels: [String]) {
        self.name = name
        self.passwordHash = passwordHash
        self.enabled = enabled
        self.channels = ChannelPermissions(channels)
    }

    /// 64 hexadecimal digits (what `echo -n pass | sha256sum` prints) as bytes; nil otherwise.
    public static func hash(hex: String) -> [UInt8]? {
        let digits = Array(hex.lowercased().utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: 64, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// Whether `password` is this user's, compared in constant time.
    func accepts(_ password: ByteBuffer) -> Bool {
        let offered = Array(SHA256.hash(data: Array(password.readableBytesView)))
        return zip(offered, passwordHash).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0 && passwordHash.count == offered.count
    }
}
