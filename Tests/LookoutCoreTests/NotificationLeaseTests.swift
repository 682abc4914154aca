import Foundation
import Testing

@testable import LookoutCore

@Suite struct NotificationLeaseTests {
    @Test func aClaimHoldsForTheLeaseFromWhenItWasSent() {
        var lease = NotificationLease(duration: 10)
        #expect(lease.token(at: 0) == nil, "nothing held before the first claim")
        #expect(lease.held(token: 1, instance: "a", sentAt: 0) == .gained(token: 1))
        #expect(lease.token(at: 9.99) == 1)
        #expect(lease.token(at: 10) == nil, "not a moment past the lease, though Redis ran the claim later")
        #expect(lease.held(token: 1, instance: "a", sentAt: 3.3) == nil, "a renewal under the same token changes nothing")
        #expect(lease.token(at: 13.29) == 1)
        #expect(lease.renewInterval * 3 == lease.duration)
    }

    @Test func unansweredClaimsLoseTheLeaseWhenItsTimeIsUpNotBefore() {
        var lease = NotificationLease(duration: 3)
        _ = lease.held(token: 4, instance: "a", sentAt: 10)
        #expect(lease.unanswered(at: 11) == nil)
        #expect(lease.unanswered(at: 12.9) == nil)
        guard case .lost(let reason)? = lease.unanswered(at: 13) else {
            Issue.record("the lease is lost once its time is up")
            return
        }
        #expect(reason.contains("not renewed within the lease (3s)"))
        #expect(lease.heldToken == nil && lease.token(at: 13) == nil)
        #expect(lease.unanswered(at: 20) == nil, "lost once")
    }

    @Test func anotherHolderEndsOursAndANewTermHasANewToken() {
        var lease = NotificationLease(duration: 10)
        _ = lease.held(token: 1, instance: "a", sentAt: 0)
        #expect(lease.heldElsewhere(by: "b", token: 2) == .lost(reason: "b holds the lease (fencing token 2)"))
        #expect(lease.token(at: 1) == nil, "another's claim ends ours at once, within the time ours had left")
        #expect(lease.holder == .init(instance: "b", token: 2))
        #expect(lease.heldElsewhere(by: "b", token: 2) == nil)
        #expect(lease.held(token: 3, instance: "a", sentAt: 20) == .gained(token: 3))
        #expect(lease.holder == .init(instance: "a", token: 3))
    }

    private func alert(_ consumer: String, firing: Bool) -> Alert {
        Alert(labels: ["alertname": "LookoutConsumerDown", "consumer": consumer], annotations: [:],
              startsAt: Date(timeIntervalSince1970: 100), endsAt: firing ? nil : Date(timeIntervalSince1970: 200))
    }

    @Test func theHandOverSendsWhatTheLogLacksAndNothingElse() {
        let undelivered = alert("w1", firing: true)
        let delivered = alert("w2", firing: true)
        let resolvedUnannounced = alert("w3", firing: false)
        let resolvedAnnounced = alert("w4", firing: false)
        let due = NotificationHandOver.due(latest: [undelivered, delivered, resolvedUnannounced, resolvedAnnounced],
                                           deliveredFiring: [delivered.fingerprint, resolvedUnannounced.fingerprint, "f00d"])
        #expect(Set(due) == [undelivered, resolvedUnannounced])
        #expect(NotificationHandOver.due(latest: [], deliveredFiring: ["f00d"]).isEmpty,
                "an alert this instance never judged is not resolved by it")
    }

    @Test func theStatusSaysWhoNotifies() {
        #expect(NotificationStatus().summary == "sent by this instance")
        let holder = NotificationStatus(group: "pair", instance: "a", notifies: true, holder: "a", fencingToken: 3)
        #expect(holder.summary == "sent by this instance (a), holder of group pair's lease, fencing token 3")
        let standBy = NotificationStatus(group: "pair", instance: "b", notifies: false, holder: "a", fencingToken: 3)
        #expect(standBy.summary == "sent by a (group pair, fencing token 3); this instance (b) stands by")
    }
}
