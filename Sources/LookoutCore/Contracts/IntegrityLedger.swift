/// Everything judged about the events on contracted channels, one message at a time: the
/// contract's verdict, whether the event is a duplicate, and what it did to its source's
/// sequence. Pure: the monitor feeds it messages and the time, and turns outcomes into metrics.
public struct IntegrityLedger: Sendable {
    /// What one message was found to be.
    public struct Outcome: Sendable, Hashable {
        public var verdict: ContractVerdict
        /// The same (source, id) was seen within the contract's window: counted, not sequenced.
        public var duplicate = false
        /// What it did to its source's sequence (nil when not checked).
        public var sequence: SequenceTracker.Outcome?
        /// The `type` and `version` labels: the event's, when the contract has a schema for the
        /// type, else `__other__` (so the series stay bounded by the contract's types).
        public var typeLabel = EventTypeLabel(type: EventTypeLabel.other, version: "")
    }

    /// Labels of `lookout_channel_event_types_total`.
    public struct EventTypeLabel: Sendable, Hashable {
        public static let other = "__other__"
        public var type: String
        public var version: String

        public init(type: String, version: String) {
            self.type = type
            self.version = version
        }
    }

    public let contracts: ContractSet
    public private(set) var sequences: SequenceTracker
    private var duplicateWindows: [Int: DuplicateWindow] = [:]
    /// The contract of each channel seen (nil: none), so its globs are matched once.
    private var contractOfChannel: [String: Int?] = [:]

    public init(contracts: ContractSet, maxSources: Int = 10_000) {
        self.contracts = contracts
        self.sequences = SequenceTracker(maxStreams: maxSources)
        for (index, contract) in contracts.contracts.enumerated() {
            if let window = contract.duplicateWindow { duplicateWindows[index] = DuplicateWindow(window: window) }
        }
    }

    /// The versions seen of each (contract, type), for a bounded `version` label.
    private var versionsSeen: [String: Set<String>] = [:]
    /// Distinct versions labelled per type; further ones count as `__other__`.
    public static let maxVersionsPerType = 10

    /// The `version` label: the event's own while its type has had at most
    /// ``maxVersionsPerType`` versions (a version comes from the payload: unbounded otherwise).
    private mutating func versionLabel(_ version: String, of type: String, in contract: Int) -> String {
        let key = "\(contract)\u{0}\(type)"
        if versionsSeen[key]?.contains(version) == true { return version }
        guard versionsSeen[key, default: []].count < Self.maxVersionsPerType else { return EventTypeLabel.other }
        versionsSeen[key, default: []].insert(version)
        return version
    }

    /// Keys held by every duplicate window (for the memory gauge).
    public var duplicateKeys: Int { duplicateWindows.values.reduce(0) { $0 + $1.keyCount } }

    /// Judges one message on `channel`; nil when no contract covers the channel (never judged).
    public mutating func record(channel: String, payload: some Collection<UInt8>, now: Double) -> Outcome? {
        let known = contractOfChannel[channel]
        let found = known ?? contracts.contractIndex(for: channel.utf8)
        if known == nil {
            if contractOfChannel.count >= 100_000 { contractOfChannel.removeAll() }
            contractOfChannel[channel] = .some(found)
        }
        guard let index = found else { return nil }
        let contract = contracts.contracts[index]
        var outcome = Outcome(verdict: contract.judge(payload))
        guard case .accepted(let identity) = outcome.verdict else { return outcome }
        if let type = identity.type {
            let versioned = identity.version.map { "\(type)@\($0)" }
            if contract.schemas[type] != nil || versioned.map({ contract.schemas[$0] != nil }) == true {
                outcome.typeLabel = EventTypeLabel(type: type, version: versionLabel(identity.version ?? "", of: type, in: index))
            }
        }
        let source = identity.source ?? ""
        if let id = identity.id, duplicateWindows[index] != nil,
           duplicateWindows[index]!.isDuplicate(channel: channel, source: source, id: id, now: now) {
            outcome.duplicate = true
            return outcome
        }
        if contract.checksSequence, let sequence = identity.sequence {
            outcome.sequence = sequences.observe(channel: channel, source: source, sequence: sequence, now: now)
        }
        return outcome
    }

    /// Events missing for good (holes older than the reorder window), per channel.
    public mutating func takeMissing(now: Double) -> [String: UInt64] {
        sequences.takeMissing(now: now)
    }

    /// Messages on `channel` went unjudged (validation fell behind): its sources' next numbers
    /// are unknown, so they start afresh rather than report the skipped ones as missing.
    public mutating func forgetSequences(on channel: String) {
        sequences.forget(channel: channel)
    }
}

/// A contract violation as the store keeps it: when, on which channel (its label), what and
/// where, and the payload's first bytes.
public struct ViolationRecord: Sendable, Hashable {
    public var at: Double
    public var channel: String
    public var violation: ContractViolation
    /// The payload, truncated to the configured size.
    public var payload: [UInt8]

    public init(at: Double, channel: String, violation: ContractViolation, payload: [UInt8]) {
        self.at = at
        self.channel = channel
        self.violation = violation
        self.payload = payload
    }
}

/// What the integrity checks counted on one channel (label) in one minute.
public struct IntegrityCounts: Sendable, Hashable {
    public var channel: String
    /// Start of the minute, seconds since the epoch.
    public var minute: Int64
    public var invalid: UInt64 = 0
    public var gaps: UInt64 = 0
    public var duplicates: UInt64 = 0
    public var outOfOrder: UInt64 = 0

    public init(channel: String, minute: Int64) {
        self.channel = channel
        self.minute = minute
    }

    public var isEmpty: Bool { invalid == 0 && gaps == 0 && duplicates == 0 && outOfOrder == 0 }
}
