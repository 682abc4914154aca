import NIOCore
import RESP

/// A request whose arguments a command cannot take: the error reply, in Redis's words.
struct RelayArgumentError: Error, Hashable {
    let message: String
}

extension RelayClient {
    /// The parsed arguments, or nil after replying with the parse error.
    func arguments<T>(_ parsed: Result<T, RelayArgumentError>) -> T? {
        switch parsed {
        case .success(let value): return value
        case .failure(let error):
            reply(.error(error.message))
            return nil
        }
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`, parsed and checked.
struct HelloArguments: Hashable {
    /// `AUTH username password`.
    struct Credentials: Hashable {
        var user: String
        var password: ByteBuffer
    }

    /// The protocol asked for; nil keeps the connection's.
    var version: RESPVersion?
    var credentials: Credentials?
    var name: String?

    static func parse(_ arguments: [ByteBuffer]) -> Result<HelloArguments, RelayArgumentError> {
        var parsed = HelloArguments()
        if arguments.count >= 2 {
            guard let requested = Int(String(buffer: arguments[1])) else {
                return .failure(.init(message: "ERR Protocol version is not an integer or out of range"))
            }
            guard let supported = RESPVersion(rawValue: requested) else {
                return .failure(.init(message: "NOPROTO unsupported protocol version"))
            }
            parsed.version = supported
        }
        var index = 2
        while index < arguments.count {
            let option = String(buffer: arguments[index]).lowercased()
            let remaining = arguments.count - 1 - index
            if option == "auth" && remaining >= 2 {
                parsed.credentials = Credentials(user: String(buffer: arguments[index + 1]), password: arguments[index + 2])
                index += 3
            } else if option == "setname" && remaining >= 1 {
                guard let name = RelayCore.validClientName(arguments[index + 1]) else {
                    return .failure(.init(message: "ERR Client names cannot contain spaces, newlines or special characters."))
                }
                parsed.name = name
                index += 2
            } else {
                return .failure(.init(message: "ERR Syntax error in HELLO option '\(RelayCore.printable(arguments[index]))'"))
            }
        }
        return .success(parsed)
    }
}

/// What CLIENT LIST and CLIENT KILL know of a connection, to decide whether a filter selects it.
struct ClientSummary: Hashable {
    var id: UInt64
    var address: String
    var localAddress: String
    var subscribed: Bool
}

/// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]]`.
struct ClientListFilter: Hashable {
    /// `normal`, `pubsub`, or `replication` (master, replica, slave: the relay has none).
    var type: String?
    var ids: Set<UInt64>?

    static func parse(_ arguments: [ByteBuffer]) -> Result<ClientListFilter, RelayArgumentError> {
        var filter = ClientListFilter()
        var index = 2
        while index < arguments.count {
            let option = String(buffer: arguments[index]).lowercased()
            if option == "type", index + 1 < arguments.count {
                let type = String(buffer: arguments[index + 1]).lowercased()
                switch type {
                case "pubsub", "normal": filter.type = type
                case "master", "replica", "slave": filter.type = "replication"
                default: return .failure(.init(message: "ERR Unknown client type '\(RelayCore.printable(arguments[index + 1]))'"))
                }
                index += 2
            } else if option == "id", index + 1 < arguments.count {
                var ids: Set<UInt64> = []
                for argument in arguments[(index + 1)...] {
                    guard let id = UInt64(String(buffer: argument)), id > 0 else { return .failure(.init(message: "ERR Invalid client ID")) }
                    ids.insert(id)
                }
                filter.ids = ids
                index = arguments.count
            } else {
                return .failure(.init(message: "ERR syntax error"))
            }
        }
        return .success(filter)
    }

    func selects(_ client: ClientSummary) -> Bool {
        if let ids, !ids.contains(client.id) { return false }
        switch type {
        case "pubsub": return client.subscribed
        case "normal": return !client.subscribed
        case "replication": return false
        default: return true
        }
    }
}

/// `CLIENT KILL ip:port`, or `CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port] [TYPE type]
/// [USER name] [SKIPME yes|no]`.
struct ClientKillFilter: Hashable {
    /// The old form: one address, an error if nobody has it.
    var onlyAddress: String?
    var id: UInt64?
    var address: String?
    var localAddress: String?
    var type: String?
    var user: String?
    var skipMe = true

    static func parse(_ arguments: [ByteBuffer]) -> Result<ClientKillFilter, RelayArgumentError> {
        var filter = ClientKillFilter()
        if arguments.count == 3 {
            filter.onlyAddress = String(buffer: arguments[2])
            return .success(filter)
        }
        var index = 2
        while index < arguments.count {
            guard index + 1 < arguments.count else { return .failure(.init(message: "ERR syntax error")) }
            let value = String(buffer: arguments[index + 1])
            switch String(buffer: arguments[index]).lowercased() {
            case "id":
                guard let parsed = UInt64(value), parsed > 0 else { return .failure(.init(message: "ERR client-id should be greater than 0")) }
                filter.id = parsed
            case "addr": filter.address = value
            case "laddr": filter.localAddress = value
            case "user": filter.user = value
            case "type":
                guard ["normal", "pubsub", "master", "replica", "slave"].contains(value.lowercased()) else {
                    return .failure(.init(message: "ERR Unknown client type '\(value)'"))
                }
                filter.type = value.lowercased()
            case "skipme":
                switch value.lowercased() {
                case "yes": filter.skipMe = true
                case "no": filter.skipMe = false
                default: return .failure(.init(message: "ERR syntax error"))
                }
            default:
                return .failure(.init(message: "ERR syntax error"))
            }
            index += 2
        }
        return .success(filter)
    }

    /// Whether the filter selects `client`; `isCaller` when it is the connection asking.
    func selects(_ client: ClientSummary, isCaller: Bool) -> Bool {
        if let onlyAddress { return client.address == onlyAddress }
        if let id, client.id != id { return false }
        if let address, client.address != address { return false }
        if let localAddress, client.localAddress != localAddress { return false }
        if let user, user != "default" { return false }
        switch type {
        case "pubsub": if !client.subscribed { return false }
        case "normal": if client.subscribed { return false }
        case nil: break
        default: return false
        }
        return !(skipMe && isCaller)
    }
}
