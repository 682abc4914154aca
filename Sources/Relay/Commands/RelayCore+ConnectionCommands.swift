import NIOCore
import PubSubCore
import RESP

/// PING, ECHO, QUIT, RESET, HELLO, AUTH, SELECT and CLIENT's subcommands.
extension RelayCore {
    func ping(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        guard arguments.count <= 2 else {
            client.reply(.error("ERR wrong number of arguments for 'ping' command"))
            return
        }
        if client.inSubscribedContext {
            client.reply(.array([.bulkString("pong"), .bulkString(arguments.count > 1 ? arguments[1] : ByteBuffer())]))
        } else if arguments.count > 1 {
            client.reply(.bulkString(arguments[1]))
        } else {
            client.reply(.simpleString("PONG"))
        }
    }

    func select(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        guard let index = Int(String(buffer: arguments[1])) else {
            client.reply(.error("ERR value is not an integer or out of range"))
            return
        }
        client.reply(index >= 0 && index < 16 ? .simpleString("OK") : .error("ERR DB index is out of range"))
    }

    func clientSetname(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        guard let name = Self.validClientName(arguments[2]) else {
            client.reply(.error("ERR Client names cannot contain spaces, newlines or special characters."))
            return
        }
        client.name = name
        notify(.named, client)
        client.reply(.simpleString("OK"))
    }

    func resetConnection(_ client: RelayClient) {
        let hadSubscriptions = client.subscriptionCount > 0
        let held = heldSubscriptions(client)
        dropAllSubscriptions(client)
        // Reported under the name it had, so a named consumer's RESET counts as leaving.
        if hadSubscriptions { notify(.subscriptionsChanged, client, left: held) }
        client.version = .resp2
        client.name = ""
        client.repliesOff = false
        client.authenticated = configuration.startsAuthenticated
        client.user = "default"
        client.permissions = nil
    }

    /// Logs `client` in as `user` when the password is that user's (counting and logging a
    /// failure, rate-limited, with the client's address — never the password). Returns nil when
    /// it did, else how long the refusal waits (``LoginThrottle``).
    private func logIn(_ client: RelayClient, user name: String, password: ByteBuffer) -> TimeAmount? {
        let failure: AuthFailure?
        var permissions: ChannelPermissions?
        if configuration.users.isEmpty {
            if name != "default" {
                failure = .unknownUser
            } else if let expected = configuration.password {
                failure = RelayUser(name: name, password: expected, channels: []).accepts(password) ? nil : .wrongPassword
            } else {
                failure = nil
            }
        } else if let user = configuration.users.first(where: { $0.name == name }) {
            failure = !user.enabled ? .disabledUser : (user.accepts(password) ? nil : .wrongPassword)
            permissions = user.channels
        } else {
            failure = .unknownUser
        }
        guard let failure else {
            client.authenticated = true
            client.user = name
            client.permissions = permissions
            return nil
        }
        stats.authFailures[failure, default: 0] += 1
        authFailureLog.note(failure, address: client.remoteAddress, clientID: client.id, logger: logger)
        return loginThrottle.delayAfterFailure(from: client.remoteHost, now: .now())
    }

    /// Redis's WRONGPASS reply, after `delay`: meanwhile nothing else the client sent is run
    /// and nothing more is read from it, so its replies stay in order; the event loop serves
    /// everyone else.
    private func refuseLogIn(_ client: RelayClient, after delay: TimeAmount) {
        let refusal = RESPValue.error("WRONGPASS invalid username-password pair or user is disabled.")
        guard delay > .zero else {
            client.reply(refusal)
            return
        }
        stats.delayedLoginRefusals += 1
        client.throttled = true
        let (id, repliesEnabled) = (client.id, client.repliesEnabled)
        eventLoop.scheduleTask(in: delay) { [self] in
            guard let client = clients[id], !client.closing else { return }
            client.throttled = false
            if repliesEnabled { client.push(refusal.encoded(version: client.version)) }
            scheduleFlush(client)
            flushAllSoon()
            client.channel.pipeline.fireUserInboundEventTriggered(RelayConnectionHandler.ResumeAfterThrottle())
        }
    }

    func auth(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        guard arguments.count <= 3 else {
            client.reply(.error("ERR syntax error"))
            return
        }
        if arguments.count == 2 && configuration.startsAuthenticated {
            client.reply(.error(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"))
            return
        }
        let user = arguments.count == 3 ? String(buffer: arguments[1]) : "default"
        if let delay = logIn(client, user: user, password: arguments[arguments.count - 1]) {
            refuseLogIn(client, after: delay)
        } else {
            client.reply(.simpleString("OK"))
        }
    }

    func hello(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        guard let request = client.arguments(HelloArguments.parse(arguments)) else { return }
        let version = request.version ?? client.version
        let newName = request.name
        if let credentials = request.credentials {
            if let delay = logIn(client, user: credentials.user, password: credentials.password) {
                refuseLogIn(client, after: delay)
                return
            }
        }
        guard client.authenticated else {
            client.reply(.error(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"))
            return
        }
        if let newName {
            client.name = newName
            notify(.named, client)
        }
        client.version = version
        client.reply(.map([
            RESPMapEntry(.bulkString("server"), .bulkString("redis")),
            RESPMapEntry(.bulkString("version"), .bulkString(compatibleRedisVersion)),
            RESPMapEntry(.bulkString("proto"), .integer(Int64(version.rawValue))),
            RESPMapEntry(.bulkString("id"), .integer(Int64(client.id))),
            RESPMapEntry(.bulkString("mode"), .bulkString("standalone")),
            RESPMapEntry(.bulkString("role"), .bulkString("master")),
            RESPMapEntry(.bulkString("modules"), .array([])),
        ]))
    }

    func aclWhoami(_ client: RelayClient) {
        client.reply(.bulkString(ByteBuffer(string: client.user)))
    }

    /// Redis accepts names of printable ASCII without spaces; the empty name clears it.
    static func validClientName(_ bytes: ByteBuffer) -> String? {
        guard bytes.readableBytesView.allSatisfy({ $0 >= UInt8(ascii: "!") && $0 <= UInt8(ascii: "~") }) else { return nil }
        return String(buffer: bytes)
    }

    func clientSetInfo(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        let attribute = String(buffer: arguments[2]).lowercased()
        let value = String(buffer: arguments[3])
        guard arguments[3].readableBytesView.allSatisfy({ $0 >= UInt8(ascii: "!") && $0 <= UInt8(ascii: "~") }) else {
            client.reply(.error("ERR \(attribute) cannot contain spaces, newlines or special characters."))
            return
        }
        switch attribute {
        case "lib-name": client.libraryName = value
        case "lib-ver": client.libraryVersion = value
        default:
            client.reply(.error("ERR Unrecognized option '\(Self.printable(arguments[2]))'"))
            return
        }
        client.reply(.simpleString("OK"))
    }

    func clientReply(_ client: RelayClient, _ arguments: [ByteBuffer]) {
        switch String(buffer: arguments[2]).lowercased() {
        case "on":
            client.repliesOff = false
            client.reply(.simpleString("OK"))
        case "off":
            client.repliesOff = true
        case "skip":
            if !client.repliesOff { client.skipNextReply = true }
        default:
            client.reply(.error("ERR syntax error"))
        }
    }

}
