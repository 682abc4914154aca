import NIOCore
import RESP
import Testing

@testable import Relay

/// The command table and the argument parsers of HELLO, CLIENT LIST and CLIENT KILL, alone.
@Suite struct RelayCommandTableTests {
    @Test func everyCommandResolvesByItsName() {
        for command in RelayCommand.allCases {
            let parts = command.rawValue.split(separator: "|").map(String.init)
            let count = max(parts.count, command.spec.arity > 0 ? command.spec.arity : -command.spec.arity)
            let resolved = RelayCommandTable.resolve(name: parts[0], subcommand: parts.count > 1 ? parts[1] : nil, argumentCount: count)
            #expect(resolved == .success(command), "\(command)")
        }
    }

    @Test func lookupErrorsAreRedisErrors() {
        #expect(RelayCommandTable.resolve(name: "get", subcommand: "k", argumentCount: 2) == .failure(.unknownCommand))
        #expect(RelayCommandTable.resolve(name: "pubsub", subcommand: "nope", argumentCount: 2) == .failure(.unknownSubcommand(container: "pubsub")))
        #expect(RelayCommandTable.resolve(name: "pubsub", subcommand: nil, argumentCount: 1) == .failure(.wrongArity("pubsub")))
        #expect(RelayCommandTable.resolve(name: "publish", subcommand: "c", argumentCount: 2) == .failure(.wrongArity("publish")))
        #expect(RelayCommandTable.resolve(name: "command", subcommand: nil, argumentCount: 1) == .success(.command))
        #expect(RelayCommandTable.resolve(name: "channels", subcommand: nil, argumentCount: 1) == .failure(.unknownCommand),
                "a subcommand is not a command of its own")
    }

    @Test func commandListsTopLevelEntriesWithTheirSubcommands() {
        let specs = RelayCommandTable.specs
        #expect(specs.count == 25, "19 commands and the containers pubsub, client, acl, command, config, script, function")
        #expect(specs["acl"]?.subcommands.map(\.name) == ["acl|help", "acl|whoami"])
        #expect(specs["pubsub"]?.subcommands.map(\.name) == [
            "pubsub|channels", "pubsub|help", "pubsub|numpat", "pubsub|numsub", "pubsub|shardchannels", "pubsub|shardnumsub",
        ])
        #expect(specs["client"]?.subcommands.count == 9)
        #expect(specs["pubsub|channels"] == nil)
        #expect(RelayCommandTable.help(for: "config").first == "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    }
}

@Suite struct RelayCommandArgumentsTests {
    private func words(_ text: String...) -> [ByteBuffer] { text.map { ByteBuffer(string: $0) } }

    @Test func hello() throws {
        let full = try HelloArguments.parse(words("HELLO", "3", "AUTH", "default", "pw", "SETNAME", "w1")).get()
        #expect(full.version == .resp3 && full.name == "w1")
        #expect(full.credentials?.user == "default" && full.credentials?.password == ByteBuffer(string: "pw"))
        #expect(try HelloArguments.parse(words("HELLO")).get() == HelloArguments())
        #expect(HelloArguments.parse(words("HELLO", "x")) == .failure(.init(message: "ERR Protocol version is not an integer or out of range")))
        #expect(HelloArguments.parse(words("HELLO", "4")) == .failure(.init(message: "NOPROTO unsupported protocol version")))
        #expect(HelloArguments.parse(words("HELLO", "3", "AUTH", "default")) == .failure(.init(message: "ERR Syntax error in HELLO option 'AUTH'")))
        #expect(HelloArguments.parse(words("HELLO", "2", "SETNAME", "a b"))
                == .failure(.init(message: "ERR Client names cannot contain spaces, newlines or special characters.")))
    }

    @Test func clientList() throws {
        let subscriber = ClientSummary(id: 7, address: "127.0.0.1:1", localAddress: "127.0.0.1:6380", subscribed: true)
        let publisher = ClientSummary(id: 8, address: "127.0.0.1:2", localAddress: "127.0.0.1:6380", subscribed: false)
        let pubsub = try ClientListFilter.parse(words("CLIENT", "LIST", "TYPE", "PUBSUB")).get()
        #expect(pubsub.selects(subscriber) && !pubsub.selects(publisher))
        let byID = try ClientListFilter.parse(words("CLIENT", "LIST", "ID", "8", "9")).get()
        #expect(!byID.selects(subscriber) && byID.selects(publisher))
        #expect(!(try ClientListFilter.parse(words("CLIENT", "LIST", "TYPE", "replica")).get()).selects(publisher))
        #expect(ClientListFilter.parse(words("CLIENT", "LIST", "TYPE", "robot")) == .failure(.init(message: "ERR Unknown client type 'robot'")))
        #expect(ClientListFilter.parse(words("CLIENT", "LIST", "ID", "0")) == .failure(.init(message: "ERR Invalid client ID")))
        #expect(ClientListFilter.parse(words("CLIENT", "LIST", "WHO")) == .failure(.init(message: "ERR syntax error")))
    }

    @Test func clientKill() throws {
        let me = ClientSummary(id: 1, address: "127.0.0.1:1", localAddress: "127.0.0.1:6380", subscribed: false)
        let other = ClientSummary(id: 2, address: "127.0.0.1:2", localAddress: "127.0.0.1:6380", subscribed: true)
        let old = try ClientKillFilter.parse(words("CLIENT", "KILL", "127.0.0.1:2")).get()
        #expect(old.selects(other, isCaller: false) && !old.selects(me, isCaller: true))
        let normal = try ClientKillFilter.parse(words("CLIENT", "KILL", "TYPE", "normal")).get()
        #expect(!normal.selects(me, isCaller: true), "SKIPME yes by default")
        let normalToo = try ClientKillFilter.parse(words("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no")).get()
        #expect(normalToo.selects(me, isCaller: true) && !normalToo.selects(other, isCaller: false))
        let byID = try ClientKillFilter.parse(words("CLIENT", "KILL", "ID", "2", "USER", "default")).get()
        #expect(byID.selects(other, isCaller: false) && !byID.selects(me, isCaller: false))
        #expect(!(try ClientKillFilter.parse(words("CLIENT", "KILL", "USER", "alice", "ID", "2")).get()).selects(other, isCaller: false))
        #expect(ClientKillFilter.parse(words("CLIENT", "KILL", "ID", "0", "SKIPME", "no"))
                == .failure(.init(message: "ERR client-id should be greater than 0")))
        #expect(ClientKillFilter.parse(words("CLIENT", "KILL", "ID", "5", "SKIPME")) == .failure(.init(message: "ERR syntax error")),
                "an option without a value")
        #expect(ClientKillFilter.parse(words("CLIENT", "KILL", "SKIPME", "maybe", "ID", "2")) == .failure(.init(message: "ERR syntax error")))
    }
}
