/// Where one Redis node listens.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`; nil when it is not one. A host is a name or
    /// an IPv4 address (letters, digits, `-`, `.`, `_`), or an IPv6 address in brackets.
    init?(_ text: Substring, defaultPort: Int = 6379) {
        var hostPart: Substring
        var portPart: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portPart = after.dropFirst()
            }
            guard hostPart.contains(":"), hostPart.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "%" || $0.isLetter || $0.isNumber })
            else { return nil }
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return nil }
            hostPart = parts[0]
            portPart = parts.count == 2 ? parts[1] : nil
            guard hostPart.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }) else { return nil }
        }
        guard !hostPart.isEmpty else { return nil }
        var port = defaultPort
        if let portPart {
            guard !portPart.isEmpty, portPart.allSatisfy({ $0.isASCII && $0.isNumber }), let parsed = Int(portPart), (1...65535).contains(parsed) else { return nil }
            port = parsed
        }
        host = String(hostPart)
        self.port = port
    }
}

/// How a source reaches a Redis over TLS (`rediss://`): which CA its certificate must chain to,
/// the client certificate for mutual TLS, and whether the certificate is checked at all.
public struct RedisTLSSettings: Sendable, Hashable {
    /// PEM file of the CA certificates the server's must chain to; nil for the system's.
    public var caPath: String?
    /// PEM files of the client's certificate and key, for a server that asks for one.
    public var certificatePath: String?
    public var keyPath: String?
    /// Whether the server's certificate (chain and name) is checked; off only on request
    /// (`--redis-tls-insecure`).
    public var verify = true

    public init(caPath: String? = nil, certificatePath: String? = nil, keyPath: String? = nil, verify: Bool = true) {
        self.caPath = caPath
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.verify = verify
    }
}

/// `redis://[user:password@]host[:port][,host[:port]…][/db]`, the address of a Redis to watch:
/// one node, or several seed nodes of one Redis Cluster (tried in order; any one of them is
/// enough to discover the rest). `rediss://` is the same over TLS.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    /// The nodes given, at least one; the first is ``host`` and ``port``.
    public private(set) var seeds: [RedisEndpoint]
    public var user: String?
    public var password: String?
    /// TLS settings for a `rediss://` URL; nil for plain TCP.
    public var tls: RedisTLSSettings?

    /// The first seed's host.
    public var host: String { seeds[0].host }
    /// The first seed's port.
    public var port: Int { seeds[0].port }

    /// Parses the URL; nil when it is not one.
    public init?(_ text: String) {
        let scheme: String
        if text.hasPrefix("redis://") {
            scheme = "redis://"
        } else if text.hasPrefix("rediss://") {
            scheme = "rediss://"
            tls = RedisTLSSettings()
        } else {
            return nil
        }
        var rest = Substring(text.dropFirst(scheme.count))
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                self.user = user.isEmpty ? nil : String(user)
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                password = String(credentials)
            }
        }
        var seeds: [RedisEndpoint] = []
        for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
            guard let endpoint = RedisEndpoint(part) else { return nil }
            if !seeds.contains(endpoint) { seeds.append(endpoint) }
        }
        guard !seeds.isEmpty else { return nil }
        self.seeds = seeds
    }

    /// The same credentials, for one node.
    public func on(_ endpoint: RedisEndpoint) -> RedisURL {
        var url = self
        url.seeds = [endpoint]
        return url
    }

    /// The URL without credentials: how the source is named in metrics and logs.
    public var description: String {
        (tls == nil ? "redis://" : "rediss://") + seeds.map(\.description).joined(separator: ",")
    }
}
