import CSQLite
import Foundation

/// An error SQLite reported, with its primary result code.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var message: String

    public var description: String { message }
    /// The disk or the database's size limit is full.
    public var isFull: Bool { code & 0xFF == SQLITE_FULL }
}

/// A value bound to, or read from, a statement.
package enum SQLiteValue: Sendable, Hashable {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null
}

/// One SQLite connection. Not thread-safe: its owner (the writer, or one CLI command) uses it
/// from one thread at a time.
package final class SQLiteConnection: @unchecked Sendable {
    package enum Mode {
        /// Created if missing; what `lookout serve` uses.
        case readWriteCreate
        /// Never creates or changes anything; what the CLI uses.
        case readOnly
    }

    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    package let path: String

    package init(path: String, mode: Mode) throws {
        self.path = path
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        var target = path
        switch mode {
        case .readWriteCreate:
            flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .readOnly:
            flags |= SQLITE_OPEN_READONLY
            // Without a write-ahead log nobody is writing: open it as immutable, so that reading
            // leaves no -wal or -shm file behind. With one, share the writer's log and index.
            let writerRunning = FileManager.default.fileExists(atPath: path + "-wal")
            target = "file:" + Self.uriEscaped(path) + (writerRunning ? "?mode=ro" : "?immutable=1")
        }
        let result = sqlite3_open_v2(target, &handle, flags, nil)
        guard result == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            handle = nil
            throw SQLiteError(code: result, message: message)
        }
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, 5_000)
    }

    deinit {
        close()
    }

    /// Closes the connection; the last one to close a WAL database folds the log back into the
    /// file and removes it. Anything tried afterwards fails with SQLite's misuse error.
    package func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements = [:]
        sqlite3_close_v2(handle)
        handle = nil
    }

    /// How long a statement waits for another connection's lock before it fails as busy (5 s
    /// from the open).
    package func waitWhenBusy(milliseconds: Int32) {
        sqlite3_busy_timeout(handle, milliseconds)
    }

    /// Runs one or more statements that take no parameters.
    package func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let result = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard result == SQLITE_OK else {
            throw SQLiteError(code: result, message: message.map { String(cString: $0) } ?? lastMessage)
        }
    }

    /// Runs a statement (prepared once and cached), calling `row` for each result row.
    package func run(_ sql: String, _ values: [SQLiteValue] = [], row: (SQLiteRow) throws -> Void = { _ in }) throws {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let result: Int32
            switch value {
            case .integer(let number): result = sqlite3_bind_int64(statement, position, number)
            case .real(let number): result = sqlite3_bind_double(statement, position, number)
            case .text(let text): result = sqlite3_bind_text(statement, position, text, -1, Self.transient)
            case .blob(let bytes):
                result = bytes.withUnsafeBytes { sqlite3_bind_blob(statement, position, $0.baseAddress, Int32($0.count), Self.transient) }
            case .null: result = sqlite3_bind_null(statement, position)
            }
            try check(result)
        }
        while true {
            let result = sqlite3_step(statement)
            if result == SQLITE_DONE { return }
            guard result == SQLITE_ROW else { throw SQLiteError(code: result, message: lastMessage) }
            try row(SQLiteRow(statement: statement))
        }
    }

    /// The rows of a query, each mapped by `transform`.
    package func query<T>(_ sql: String, _ values: [SQLiteValue] = [], _ transform: (SQLiteRow) throws -> T) throws -> [T] {
        var out: [T] = []
        try run(sql, values) { out.append(try transform($0)) }
        return out
    }

    /// The first column of the first row, as an integer.
    /// Rows the last INSERT, UPDATE or DELETE changed.
    package var changes: Int { Int(sqlite3_changes(handle)) }

    package func integer(_ sql: String, _ values: [SQLiteValue] = []) throws -> Int64? {
        try query(sql, values) { $0.integer(0) }.first ?? nil
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    package func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer? {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        try check(sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil))
        statements[sql] = statement
        return statement
    }

    private func check(_ result: Int32) throws {
        guard result == SQLITE_OK else { throw SQLiteError(code: result, message: lastMessage) }
    }

    private var lastMessage: String { String(cString: sqlite3_errmsg(handle)) }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func uriEscaped(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }
}

/// One result row of a running statement; valid only inside the callback that receives it.
package struct SQLiteRow {
    let statement: OpaquePointer?

    package func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    package func integer(_ column: Int32) -> Int64? { isNull(column) ? nil : sqlite3_column_int64(statement, column) }
    package func real(_ column: Int32) -> Double? { isNull(column) ? nil : sqlite3_column_double(statement, column) }
    package func text(_ column: Int32) -> String? {
        guard !isNull(column), let bytes = sqlite3_column_text(statement, column) else { return nil }
        return String(cString: bytes)
    }
    package func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let bytes = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }
}

extension SQLiteValue {
    static func optional(_ value: Double?) -> SQLiteValue { value.map(SQLiteValue.real) ?? .null }
    static func optional(_ value: UInt64?) -> SQLiteValue { value.map { .integer(Int64(clamping: $0)) } ?? .null }
    static func optional(_ value: String?) -> SQLiteValue { value.map(SQLiteValue.text) ?? .null }
}
