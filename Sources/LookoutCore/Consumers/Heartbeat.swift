import Foundation

/// One consumer heartbeat, contract v1 (see the README): a JSON object published on the
/// heartbeat channel (`lookout:heartbeat` by default).
public struct Heartbeat: Sendable, Hashable {
    public var consumer: String
    public var group: String?
    /// Heartbeat interval the consumer promises, in seconds.
    public var interval: Double?
    /// Channels (or globs) the consumer serves.
    public var channels: [String]
    /// Running count of messages processed; lets a stalled consumer be told from a live one.
    public var processed: UInt64?
    public var failed: UInt64?
    /// Running count of messages the consumer took off the bus.
    public var received: UInt64?
    /// Messages received and not yet processed (its local queue), when it knows.
    public var pending: UInt64?
    /// Publish time of the last event it finished, seconds since the epoch (`last_event_ts` is in ms).
    public var lastEventAt: Double?
    /// When the consumer sent it, seconds since the epoch.
    public var sentAt: Double?
    /// A clean goodbye (`"state": "stopping"`).
    public var stopping: Bool

    public init(consumer: String, group: String? = nil, interval: Double? = nil, channels: [String] = [],
                processed: UInt64? = nil, failed: UInt64? = nil, received: UInt64? = nil, pending: UInt64? = nil,
                lastEventAt: Double? = nil, sentAt: Double? = nil, stopping: Bool = false) {
        self.consumer = consumer
        self.group = group
        self.interval = interval
        self.channels = channels
        self.processed = processed
        self.failed = failed
        self.received = received
        self.pending = pending
        self.lastEventAt = lastEventAt
        self.sentAt = sentAt
        self.stopping = stopping
    }

    /// Why a heartbeat was rejected: the `reason` label of `lookout_heartbeats_invalid_total`.
    public enum Rejection: String, Error, Sendable, Hashable, CaseIterable {
        case oversized = "oversized"
        case notJSON = "not_json"
        case notAnObject = "not_object"
        case missingVersion = "missing_version"
        case unknownVersion = "unknown_version"
        case missingConsumer = "missing_consumer"
        case wrongType = "wrong_type"
        case invalidValue = "invalid_value"
    }

    /// Largest heartbeat accepted, in bytes.
    public static let maxBytes = 8 * 1024
    /// Longest consumer or group name, in characters; longer names would make unbounded labels.
    public static let maxNameLength = 200

    /// The optional running counts, by key (made once: built per heartbeat, these tables cost
    /// as much as a field's parse).
    private static let counterFields: [(String, any WritableKeyPath<Heartbeat, UInt64?> & Sendable)] = [
        ("processed", \.processed), ("failed", \.failed), ("received", \.received), ("pending", \.pending),
    ]
    /// The optional times in milliseconds, by key.
    private static let timeFields: [(String, any WritableKeyPath<Heartbeat, Double?> & Sendable)] = [("ts", \.sentAt), ("last_event_ts", \.lastEventAt)]

    /// Parses and validates a heartbeat payload. Unknown fields are ignored, so the contract can grow.
    public static func parse(_ payload: [UInt8]) -> Result<Heartbeat, Rejection> {
        guard payload.count <= maxBytes else { return .failure(.oversized) }
        guard let document = try? JSONValue.parse(payload) else { return .failure(.notJSON) }
        guard case .object(let fields) = document else { return .failure(.notAnObject) }
        guard let version = fields["v"] else { return .failure(.missingVersion) }
        guard case .number(let v) = version else { return .failure(.wrongType) }
        guard v == 1 else { return .failure(.unknownVersion) }
        guard let consumerValue = fields["consumer"] else { return .failure(.missingConsumer) }
        guard case .string(let consumer) = consumerValue else { return .failure(.wrongType) }
        guard !consumer.isEmpty, consumer.count <= maxNameLength else { return .failure(.invalidValue) }
        var heartbeat = Heartbeat(consumer: consumer)
        if let group = fields["group"] {
            guard case .string(let text) = group else { return .failure(.wrongType) }
            guard text.count <= maxNameLength else { return .failure(.invalidValue) }
            heartbeat.group = text.isEmpty ? nil : text
        }
        if let interval = fields["interval_ms"] {
            guard case .number(let ms) = interval else { return .failure(.wrongType) }
            guard ms >= 10, ms <= 86_400_000 else { return .failure(.invalidValue) }
            heartbeat.interval = ms / 1000
        }
        if let channels = fields["channels"] {
            guard case .array(let list) = channels else { return .failure(.wrongType) }
            var names: [String] = []
            for element in list {
                guard case .string(let name) = element else { return .failure(.wrongType) }
                names.append(name)
            }
            guard names.count <= 100 else { return .failure(.invalidValue) }
            heartbeat.channels = names
        }
        for (key, path) in Self.counterFields {
            guard let value = fields[key] else { continue }
            guard case .number(let count) = value else { return .failure(.wrongType) }
            guard count >= 0, count == count.rounded(), count < 1.8e19 else { return .failure(.invalidValue) }
            heartbeat[keyPath: path] = UInt64(count)
        }
        for (key, path) in Self.timeFields {
            guard let value = fields[key] else { continue }
            guard case .number(let ms) = value else { return .failure(.wrongType) }
            // `ts` was never range-checked (old heartbeats stay valid); the new field is.
            guard key == "ts" || (ms >= 0 && ms < 1e15) else { return .failure(.invalidValue) }
            heartbeat[keyPath: path] = ms / 1000
        }
        if let state = fields["state"] {
            guard case .string(let text) = state else { return .failure(.wrongType) }
            guard text == "stopping" || text == "running" else { return .failure(.invalidValue) }
            heartbeat.stopping = text == "stopping"
        }
        return .success(heartbeat)
    }
}
