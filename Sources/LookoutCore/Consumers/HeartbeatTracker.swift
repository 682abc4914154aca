/// Every consumer's failure detector, fed by heartbeats and channel traffic; pure, with time
/// passed in. Consumers are keyed by name; at most `maxConsumers` are tracked, so a stream of
/// made-up names cannot grow memory without bound.
public struct HeartbeatTracker: Sendable {
    /// A transition of one consumer.
    public struct ConsumerTransition: Sendable, Hashable {
        public var consumer: String
        public var group: String
        public var transition: ConsumerStateMachine.Transition

        public init(consumer: String, group: String, transition: ConsumerStateMachine.Transition) {
            self.consumer = consumer
            self.group = group
            self.transition = transition
        }
    }

    /// One consumer as metrics, the API and the store see it.
    public struct ConsumerSnapshot: Sendable, Hashable {
        public var consumer: String
        public var group: String
        public var detector: ConsumerStateMachine.Saved

        public init(consumer: String, group: String, detector: ConsumerStateMachine.Saved) {
            self.consumer = consumer
            self.group = group
            self.detector = detector
        }

        public var state: ConsumerStateMachine.State { detector.state }
        public var lastHeartbeatAt: Double { detector.lastHeartbeatAt }
        public var processed: UInt64? { detector.processed }
        public var failed: UInt64? { detector.failed }
        public var progress: ConsumerStateMachine.Progress { detector.progress }
    }

    /// Where consumers publish heartbeats unless configured otherwise.
    public static let defaultChannel = "lookout:heartbeat"

    /// A group's health: `degraded` when some members are down, `down` when all live members are.
    public enum GroupState: String, Sendable, Hashable {
        case healthy, degraded, down
    }

    /// A change of a group's health.
    public struct GroupTransition: Sendable, Hashable {
        public var group: String
        public var from: GroupState
        public var to: GroupState
        public var reason: String
        public var at: Double
    }

    private var groupStates: [String: GroupState] = [:]

    public var configuration: ConsumerStateMachine.Configuration
    public var maxConsumers: Int
    private var machines: [String: ConsumerStateMachine] = [:]
    private var groups: [String: String] = [:]
    /// Per channel, the consumers that watch it: filled when the channel first carries traffic,
    /// kept up to date one consumer at a time when a consumer's channels change (so counting a
    /// message does not visit every consumer, and a new consumer does not visit every consumer).
    private var servers: [String: Set<String>] = [:]
    /// Consumers that declare channels, or are away from the channels their connection held.
    private var declaring: Set<String> = []
    /// New consumers (by heartbeat or named connection) refused because `maxConsumers` were tracked.
    public private(set) var refusedConsumers: UInt64 = 0
    /// The source each consumer's heartbeats last came by.
    private var carriers: [String: String] = [:]
    /// Sources that do not see every message now (a subscription lost), with since when.
    public private(set) var sourcesNotWatching: [String: Double] = [:]
    /// Consumers changed since ``takeChanged()`` last took them.
    private var changed: Set<String> = []
    /// Per group, its members in each state, kept as they change (never recounted).
    public private(set) var groupMembers: [String: [ConsumerStateMachine.State: Int]] = [:]
    /// The group and state each consumer is counted under in `groupMembers`.
    private var counted: [String: (group: String, state: ConsumerStateMachine.State)] = [:]
    /// Groups whose members changed state since ``updateGroups(at:)`` last ran.
    private var touchedGroups: Set<String> = []

    public init(configuration: ConsumerStateMachine.Configuration = .init(), maxConsumers: Int = 10_000) {
        self.configuration = configuration
        self.maxConsumers = maxConsumers
    }

    /// Applies a heartbeat payload carried by `source`. A rejected heartbeat changes nothing.
    public mutating func receive(_ payload: [UInt8], from source: String = "", at now: Double) -> Result<[ConsumerTransition], Heartbeat.Rejection> {
        let heartbeat: Heartbeat
        switch Heartbeat.parse(payload) {
        case .failure(let rejection): return .failure(rejection)
        case .success(let parsed): heartbeat = parsed
        }
        let group = heartbeat.group ?? ""
        guard let index = machines.index(forKey: heartbeat.consumer) else {
            guard machines.count < maxConsumers else {
                refusedConsumers += 1
                return .success([])
            }
            let machine = ConsumerStateMachine(first: heartbeat, at: now, configuration: configuration)
            machines[heartbeat.consumer] = machine
            groups[heartbeat.consumer] = group
            carriers[heartbeat.consumer] = source
            interestChanged(heartbeat.consumer, machine)
            touch(heartbeat.consumer)
            return .success([])
        }
        if groups[heartbeat.consumer] != group { groups[heartbeat.consumer] = group }
        if carriers[heartbeat.consumer] != source { carriers[heartbeat.consumer] = source }
        // In place: a copy of the machine out and back in cost more than the heartbeat itself.
        let before = machines.values[index].channels
        let transitions = machines.values[index].receive(heartbeat, at: now)
        if machines.values[index].channels != before { interestChanged(heartbeat.consumer, machines.values[index]) }
        touch(heartbeat.consumer)
        return .success(transitions.map { ConsumerTransition(consumer: heartbeat.consumer, group: group, transition: $0) })
    }

    /// A named connection holds subscriptions (`opened`) or no longer does (closed or unsubscribed;
    /// `subscriptions` is what it held). Consumers that send heartbeats are judged by them (their
    /// connection only counts reconnects and missed messages); the others by their connection.
    public mutating func namedConnection(_ name: String, subscribed: Bool, at now: Double, reason: String,
                                         subscriptions: ConnectionSubscriptions = .init()) -> ConsumerTransition? {
        guard var machine = machines[name] else {
            guard subscribed else { return nil }
            guard machines.count < maxConsumers else {
                refusedConsumers += 1
                return nil
            }
            machines[name] = ConsumerStateMachine(connectionAt: now, configuration: configuration)
            groups[name] = ""
            touch(name)
            return nil
        }
        let transition = subscribed ? machine.connectionOpened(at: now)
            : machine.connectionClosed(at: now, reason: reason, subscriptions: subscriptions)
        machines[name] = machine
        interestChanged(name, machine)
        touch(name)
        return transition.map { ConsumerTransition(consumer: name, group: groups[name] ?? "", transition: $0) }
    }

    /// Notes `messages` published on `channel`: traffic for the stall check and backlog of the
    /// consumers that serve it, missed messages for those away from it.
    public mutating func noteMessage(on channel: String, messages: Int = 1, at now: Double) {
        guard !declaring.isEmpty else { return }
        let serving: Set<String>
        if let known = servers[channel] {
            serving = known
        } else {
            serving = declaring.filter { machines[$0]?.watches(channel) == true }
            if servers.count >= 10_000 { servers.removeAll() }
            servers[channel] = serving
        }
        for name in serving {
            guard let index = machines.index(forKey: name) else { continue }
            let missed = machines.values[index].progress.missed
            machines.values[index].noteTraffic(on: channel, messages: messages, at: now)
            if machines.values[index].progress.missed != missed { changed.insert(name) }
        }
    }

    /// The channels whose traffic matters to `consumer` changed: the channels known to carry
    /// traffic are updated for it alone.
    private mutating func interestChanged(_ consumer: String, _ machine: ConsumerStateMachine) {
        let watching = machine.watchesChannels
        if watching {
            declaring.insert(consumer)
        } else if declaring.remove(consumer) == nil {
            return
        }
        for index in servers.indices {
            if watching && machine.watches(servers.keys[index]) {
                servers.values[index].insert(consumer)
            } else {
                servers.values[index].remove(consumer)
            }
        }
    }

    /// Notes that `name` changed: its series are due, and its group's counts follow its state.
    private mutating func touch(_ name: String) {
        changed.insert(name)
        guard let state = machines[name]?.state else { return }
        let group = groups[name] ?? ""
        if let before = counted[name] {
            guard before.group != group || before.state != state else { return }
            groupMembers[before.group]?[before.state]? -= 1
            touchedGroups.insert(before.group)
        }
        groupMembers[group, default: [:]][state, default: 0] += 1
        counted[name] = (group, state)
        touchedGroups.insert(group)
    }

    /// The consumers changed since the last call (heartbeats, connections, state changes, missed
    /// messages), each once: what their series need, without visiting every consumer.
    public mutating func takeChanged() -> [ConsumerSnapshot] {
        guard !changed.isEmpty else { return [] }
        defer { changed.removeAll(keepingCapacity: true) }
        return changed.compactMap { name in
            machines[name].map { ConsumerSnapshot(consumer: name, group: groups[name] ?? "", detector: $0.saved) }
        }
    }

    /// `source` stopped seeing every message: the heartbeats it carries go unseen, so the
    /// silence of the consumers whose heartbeats it carries is not judged until it is back.
    public mutating func sourceStoppedWatching(_ source: String, at now: Double) {
        if sourcesNotWatching[source] == nil { sourcesNotWatching[source] = now }
    }

    /// `source` sees every message again: the silence of the consumers it carries counts from
    /// `now` (their next heartbeat is the first they could be judged by).
    public mutating func sourceWatchingAgain(_ source: String, at now: Double) {
        guard sourcesNotWatching.removeValue(forKey: source) != nil else { return }
        for (name, carrier) in carriers where carrier == source { machines[name]?.silenceCounts(from: now) }
    }

    /// Whether `name`'s heartbeats come by a source that is not watching now.
    private func isUnseen(_ name: String) -> Bool {
        guard !sourcesNotWatching.isEmpty, let carrier = carriers[name] else { return false }
        return sourcesNotWatching[carrier] != nil
    }

    /// Checks every consumer against the clock (but those whose heartbeats go unseen now), in
    /// place; the transitions in consumer order.
    public mutating func evaluate(now: Double) -> [ConsumerTransition] {
        var transitions: [ConsumerTransition] = []
        var index = machines.startIndex
        while index != machines.endIndex {
            let name = machines.keys[index]
            if !isUnseen(name), let transition = machines.values[index].evaluate(now: now) {
                transitions.append(ConsumerTransition(consumer: name, group: groups[name] ?? "", transition: transition))
            }
            machines.formIndex(after: &index)
        }
        for change in transitions { touch(change.consumer) }
        return transitions.sorted { $0.consumer < $1.consumer }
    }

    /// Judges the health of the groups whose members changed state since the last call; returns
    /// those whose health changed. Stopped members do not count: a group whose members all said
    /// goodbye is not down.
    public mutating func updateGroups(at now: Double) -> [GroupTransition] {
        guard !touchedGroups.isEmpty else { return [] }
        defer { touchedGroups.removeAll(keepingCapacity: true) }
        var transitions: [GroupTransition] = []
        for group in touchedGroups.sorted() where !group.isEmpty {
            let members = groupMembers[group] ?? [:]
            let down = members[.down] ?? 0
            let total = members.reduce(0) { $0 + ($1.key == .stopped ? 0 : $1.value) }
            let next: GroupState = down == 0 ? .healthy : (down == total ? .down : .degraded)
            let previous = groupStates[group] ?? .healthy
            guard next != previous else { continue }
            groupStates[group] = next
            transitions.append(GroupTransition(group: group, from: previous, to: next, reason: "\(down) of \(total) consumers down", at: now))
        }
        return transitions
    }

    /// Resumes consumers saved before a restart, in their saved states: nothing fires for them
    /// again, and their silence counts from `now`. Group health is recomputed without reporting.
    public mutating func resume(_ saved: [ConsumerSnapshot], at now: Double) {
        for consumer in saved.prefix(maxConsumers) {
            machines[consumer.consumer] = ConsumerStateMachine(resuming: consumer.detector, at: now, configuration: configuration)
            groups[consumer.consumer] = consumer.group
            interestChanged(consumer.consumer, machines[consumer.consumer]!)
            touch(consumer.consumer)
        }
        _ = updateGroups(at: now)
    }

    /// Consumers that declare the channels they serve.
    public var machinesServingChannels: [ConsumerStateMachine] {
        machines.values.filter { !$0.channels.isEmpty }
    }

    /// The globs (not plain names) that live consumers (neither down nor stopped) declare in
    /// their heartbeats: patterns they say they consume.
    public var livePatterns: Set<String> {
        var patterns: Set<String> = []
        for name in declaring {
            guard let machine = machines[name], machine.state != .down, machine.state != .stopped else { continue }
            for entry in machine.channels where PatternConsumers.isPattern(entry) { patterns.insert(entry) }
        }
        return patterns
    }

    public var consumers: [ConsumerSnapshot] {
        machines.map { name, machine in
            ConsumerSnapshot(consumer: name, group: groups[name] ?? "", detector: machine.saved)
        }.sorted { $0.consumer < $1.consumer }
    }
}
