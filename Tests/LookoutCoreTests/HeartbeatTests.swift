import Testing

@testable import LookoutCore

@Suite struct HeartbeatTests {
    private func parse(_ text: String) -> Result<Heartbeat, Heartbeat.Rejection> { Heartbeat.parse(Array(text.utf8)) }

    @Test func theFullContract() throws {
        let heartbeat = try parse("""
            {"v":1,"consumer":"billing-worker-7","group":"billing","interval_ms":5000,
             "channels":["orders.created","payments.*"],"processed":18234,"failed":3,"ts":1764172800123,"extra":{"x":1}}
            """).get()
        #expect(heartbeat == Heartbeat(consumer: "billing-worker-7", group: "billing", interval: 5, channels: ["orders.created", "payments.*"],
                                       processed: 18234, failed: 3, sentAt: 1_764_172_800.123))
        #expect(try parse(#"{"v":1,"consumer":"w","state":"stopping"}"#).get().stopping)
        let progress = try parse(#"{"v":1,"consumer":"w","processed":90,"received":120,"pending":30,"last_event_ts":1764172800500}"#).get()
        #expect(progress == Heartbeat(consumer: "w", processed: 90, received: 120, pending: 30, lastEventAt: 1_764_172_800.5))
        #expect(try parse(#"{"v":1,"consumer":"w"}"#).get() == Heartbeat(consumer: "w"))
    }

    @Test(arguments: [
        ("not json", Heartbeat.Rejection.notJSON),
        ("[1,2]", .notAnObject),
        ("\"text\"", .notAnObject),
        (#"{"consumer":"w"}"#, .missingVersion),
        (#"{"v":2,"consumer":"w"}"#, .unknownVersion),
        (#"{"v":"1","consumer":"w"}"#, .wrongType),
        (#"{"v":true,"consumer":"w"}"#, .wrongType),
        (#"{"v":1}"#, .missingConsumer),
        (#"{"v":1,"consumer":7}"#, .wrongType),
        (#"{"v":1,"consumer":""}"#, .invalidValue),
        (#"{"v":1,"consumer":"w","interval_ms":"5s"}"#, .wrongType),
        (#"{"v":1,"consumer":"w","interval_ms":0}"#, .invalidValue),
        (#"{"v":1,"consumer":"w","channels":"orders"}"#, .wrongType),
        (#"{"v":1,"consumer":"w","processed":-1}"#, .invalidValue),
        (#"{"v":1,"consumer":"w","processed":1.5}"#, .invalidValue),
        (#"{"v":1,"consumer":"w","state":"sleeping"}"#, .invalidValue),
        (#"{"v":1,"consumer":"w","received":-3}"#, .invalidValue),
        (#"{"v":1,"consumer":"w","pending":"many"}"#, .wrongType),
        (#"{"v":1,"consumer":"w","last_event_ts":-1}"#, .invalidValue),
        (#"{"v":1,"consumer":"w","last_event_ts":"yesterday"}"#, .wrongType),
    ])
    func invalidHeartbeatsAreRejectedWithAReason(payload: String, reason: Heartbeat.Rejection) {
        #expect(parse(payload) == .failure(reason))
    }

    @Test func oversizedHeartbeatsAreRejectedBeforeParsing() {
        let big = #"{"v":1,"consumer":"w","pad":""# + String(repeating: "x", count: Heartbeat.maxBytes) + "\"}"
        #expect(parse(big) == .failure(.oversized))
    }
}
