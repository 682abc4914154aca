/// A request that breaks the protocol or one of the parser's limits.
///
/// `message` carries Redis's own wording, so clients and tests see the same text from the relay
/// as from redis-server; the connection is closed after it is sent.
public struct RESPProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case invalidMultibulkLength, invalidBulkLength, unexpectedByte, tooBigCountLine
        case tooBigInlineRequest, unbalancedQuotes, missingTerminator, tooDeep, invalidValue
    }

    private let code: Code
    /// Redis's text for the error, without the `ERR ` prefix.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static let invalidMultibulkLength = Self(.invalidMultibulkLength, "Protocol error: invalid multibulk length")
    public static let invalidBulkLength = Self(.invalidBulkLength, "Protocol error: invalid bulk length")
    public static let tooBigMultibulkCountLine = Self(.tooBigCountLine, "Protocol error: too big mbulk count string")
    public static let tooBigBulkCountLine = Self(.tooBigCountLine, "Protocol error: too big bulk count string")
    public static let tooBigInlineRequest = Self(.tooBigInlineRequest, "Protocol error: too big inline request")
    public static let unbalancedQuotes = Self(.unbalancedQuotes, "Protocol error: unbalanced quotes in request")
    public static let missingTerminator = Self(.missingTerminator, "Protocol error: expected '\\r\\n' after bulk data")
    public static let tooDeep = Self(.tooDeep, "Protocol error: reply nested too deeply")

    /// Redis's error for a multibulk element that does not start with `$`.
    public static func expectedDollar(got byte: UInt8) -> Self {
        Self(.unexpectedByte, "Protocol error: expected '$', got '\(Character(Unicode.Scalar(byte)))'")
    }

    /// A reply that cannot be parsed (used by the reply parser, not by the server side).
    public static func invalidValue(_ detail: String) -> Self {
        Self(.invalidValue, "Protocol error: \(detail)")
    }

    /// The line a server sends before closing: `-ERR <message>`.
    public var replyLine: String { "ERR \(message)" }

    public var description: String { message }
}
