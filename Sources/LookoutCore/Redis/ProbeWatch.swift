/// Whether the probes a source publishes come back on its subscription: the end-to-end proof
/// that the subscription still delivers. A probe is awaited from before it is sent (the
/// subscription may see it before PUBLISH returns), forgotten when it could not be published,
/// and answered by itself or any later probe. One not back within the timeout means the
/// subscription no longer delivers. Pure; `at` times in monotonic seconds, `sentAt` is the
/// probe's identity (the time written in its payload).
public struct ProbeWatch: Sendable {
    private var awaited: (sentAt: Double, at: Double)?

    public init() {}

    /// A probe is about to be published; awaited only while the subscription is held (one sent
    /// before it could not come back) and when no older one is awaited already.
    public mutating func sending(sentAt: Double, at now: Double, subscribed: Bool) {
        if subscribed && awaited == nil { awaited = (sentAt, now) }
    }

    /// The probe was not published (the publishing link failed): nothing to wait for.
    public mutating func notPublished(sentAt: Double) {
        if awaited?.sentAt == sentAt { awaited = nil }
    }

    /// A probe came back; it answers every probe sent up to it.
    public mutating func received(sentAt: Double) {
        if let awaited, sentAt >= awaited.sentAt { self.awaited = nil }
    }

    /// The subscription was made again: probes sent before it cannot come back on it.
    public mutating func reset() { awaited = nil }

    /// Seconds the awaited probe is overdue beyond `timeout`, or nil when none is.
    public func overdue(at now: Double, timeout: Double) -> Double? {
        guard let awaited, now - awaited.at > timeout else { return nil }
        return now - awaited.at
    }
}
