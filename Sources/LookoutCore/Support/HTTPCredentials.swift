import Foundation

/// What a request must carry to read `/metrics`, the API and the status page
/// (`--metrics-auth`): HTTP basic credentials or a bearer token, each read from a file so that
/// it never sits on a command line. `/healthz` and `/readyz` stay open for probes.
public enum HTTPCredentials: Sendable, Equatable {
    case basic(user: String, password: String)
    case bearer(token: String)

    /// How `--metrics-auth` names one: `basic:FILE` (the file holds `user:password`) or
    /// `bearer:FILE` (the file holds the token).
    public struct Source: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable { case basic, bearer }
        public var kind: Kind
        public var path: String

        public init(kind: Kind, path: String) {
            self.kind = kind
            self.path = path
        }

        /// `basic:FILE` or `bearer:FILE`; nil when it is neither.
        public init?(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let kind = Kind(rawValue: parts[0]), !parts[1].isEmpty else { return nil }
            self.init(kind: kind, path: parts[1])
        }
    }

    /// The credentials in a file's text (one line; a trailing newline is not part of it).
    /// - Throws: ``HTTPCredentialsError`` naming `source`'s file and what is wrong with it.
    public init(_ source: Source, text: String) throws(HTTPCredentialsError) {
        var line = Substring(text)
        if line.last?.isNewline == true { line.removeLast() }
        guard !line.isEmpty, !line.contains(where: \.isNewline) else {
            throw HTTPCredentialsError(description: "'\(source.path)' must hold one line: \(source.kind == .basic ? "user:password" : "the token")")
        }
        switch source.kind {
        case .bearer:
            self = .bearer(token: String(line))
        case .basic:
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw HTTPCredentialsError(description: "'\(source.path)' must hold user:password")
            }
            self = .basic(user: parts[0], password: parts[1])
        }
    }

    /// The `Authorization` header value a client sends with these credentials.
    public var authorizationHeader: String {
        switch self {
        case .basic(let user, let password): "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        case .bearer(let token): "Bearer " + token
        }
    }

    /// Whether a request's `Authorization` header carries these credentials; compared in
    /// constant time (for the header's length).
    public func accepts(authorization: String?) -> Bool {
        guard let authorization else { return false }
        let expected = Array(authorizationHeader.utf8)
        let given = Array(authorization.utf8)
        var difference = UInt8(expected.count == given.count ? 0 : 1)
        for index in given.indices { difference |= given[index] ^ (index < expected.count ? expected[index] : 0) }
        return difference == 0
    }

    /// The `WWW-Authenticate` challenge a refused request gets.
    public var challenge: String {
        switch self {
        case .basic: #"Basic realm="lookout", charset="UTF-8""#
        case .bearer: #"Bearer realm="lookout""#
        }
    }
}

/// A credentials file that cannot be used.
public struct HTTPCredentialsError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

