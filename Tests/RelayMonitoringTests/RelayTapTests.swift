import LookoutCore
import Relay
import Testing

import Observations
@testable import RelayMonitoring

/// The tap's view of named connections: a pool of connections sharing a name is one consumer.
@Suite struct RelayTapTests {
    private func client(_ id: UInt64, _ name: String, _ event: ClientObservation.Event, subscriptions: Int,
                        left: [String] = []) -> ClientObservation {
        ClientObservation(event: event, clientID: id, name: name, address: "127.0.0.1:\(5000 + id)", subscriptions: subscriptions,
                          leftChannels: left)
    }

    /// The named-connection observations queued so far: (name, subscribed, channels left).
    private func named(_ queue: ObservationQueue) -> [(String, Bool, Set<String>)] {
        queue.drain().observations.compactMap { observation in
            guard case .namedConnection(let name, let subscribed, _, let left, _, _, _) = observation else { return nil }
            return (name, subscribed, left.channels)
        }
    }

    @Test func aPoolSharingANameLeavesWhenItsLastConnectionDoes() {
        let queue = ObservationQueue()
        let tap = RelayTap(queue: queue, clock: { 0 })
        tap.relayClientDidChange(client(1, "mailer", .subscriptionsChanged, subscriptions: 1))
        tap.relayClientDidChange(client(2, "mailer", .subscriptionsChanged, subscriptions: 1))
        tap.relayClientDidChange(client(2, "mailer", .subscriptionsChanged, subscriptions: 2))
        #expect(named(queue).map { "\($0.0) \($0.1)" } == ["mailer true"])
        tap.relayClientDidChange(client(1, "mailer", .disconnected, subscriptions: 0, left: ["mail"]))
        #expect(named(queue).isEmpty, "connection 2 still listens")
        tap.relayClientDidChange(client(2, "mailer", .disconnected, subscriptions: 0, left: ["mail", "bulk"]))
        let left = named(queue)
        #expect(left.map { "\($0.0) \($0.1)" } == ["mailer false"])
        #expect(left.first?.2 == ["mail", "bulk"])
    }

    @Test func renamingASubscribedConnectionMovesIt() {
        let queue = ObservationQueue()
        let tap = RelayTap(queue: queue, clock: { 0 })
        tap.relayClientDidChange(client(1, "", .subscriptionsChanged, subscriptions: 1))
        #expect(named(queue).isEmpty, "unnamed connections are not consumers")
        tap.relayClientDidChange(client(1, "a", .named, subscriptions: 1))
        tap.relayClientDidChange(client(1, "b", .named, subscriptions: 1))
        tap.relayClientDidChange(client(1, "b", .subscriptionsChanged, subscriptions: 0))
        #expect(named(queue).map { "\($0.0) \($0.1)" } == ["a true", "a false", "b true", "b false"])
    }
}
