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

    /// One tracked consumer: its detector and what the tracker keeps beside it.
    private struct Tracked: Sendable {
        let name: String
        var group: String
        /// The source its heartbeats last came by.
        var carrier: String = ""
        var machine: ConsumerStateMachine
        /// The group and state it is counted under in `groupMembers`.
        var counted: (group: String, state: ConsumerStateMachine.State)?
        /// Changed since ``takeChanged()`` last took it.
        var changed = false
    }

    /// Consumers by number, in the order they were first seen (never removed), and their
    /// numbers by name: a heartbeat costs one lookup by name, the rest is by number.
    private var tracked: [Tracked] = []
    private var numbers: [String: Int] = [:]
    /// Per consumer number, when ``evaluate(now:)`` next needs to look at it (see
    /// ``ConsumerStateMachine/nextChange(after:)``); -infinity after anything reached it.
    private var dueAt: [Double] = []
    /// Per channel, the consumers that watch it: filled when the channel first carries traffic,
    /// kept up to date one consumer at a time when a consumer's channels change (so counting a
    /// message does not visit every consumer, and a new consumer does not visit every consumer).
    private var servers: [String: Set<Int>] = [:]
    /// Consumers that declare channels, or are away from the channels their connection held.
    private var declaring: Set<Int> = []
    /// New consumers (by heartbeat or named connection) refused because `maxConsumers` were tracked.
    public private(set) var refusedConsumers: UInt64 = 0
    /// Sources that do not see every message now (a subscription lost), with since when.
    public private(set) var sourcesNotWatching: [String: Double] = [:]
    /// Consumers changed since ``takeChanged()`` last took them.
    private var changed: [Int] = []
    /// Per group, its members in each state, kept as they change (never recounted).
    public private(set) var groupMembers: [String: [ConsumerStateMachine.State: Int]] = [:]
    /// Groups whose members changed state since ``updateGroups(at:)`` last ran.
    private var touchedGroups: Set<String> = []

    public init(configuration: ConsumerStateMachine.Configuration = .init(), maxConsumers: Int = 10_000) {
        self.configuration = configuration
        self.maxConsumers = maxConsumers
    }

    /// Starts tracking `name`, unless `maxConsumers` are tracked already (then counted as refused).
    private mutating func add(_ name: String, group: String, _ machine: ConsumerStateMachine) -> Int? {
        guard tracked.count < maxConsumers else {
            refusedConsumers += 1
            return nil
        }
        let number = tracked.count
        tracked.append(Tracked(name: name, group: group, machine: machine))
        dueAt.append(-.infinity)
        numbers[name] = number
        return number
    }

    /// Applies a heartbeat payload carried by `source`. A rejected heartbeat changes nothing.
    public mutating func receive(_ payload: [UInt8], from source: String = "", at now: Double) -> Result<[ConsumerTransition], Heartbeat.Rejection> {
        let heartbeat: Heartbeat
        switch Heartbeat.parse(payload) {
        case .failure(let rejection): return .failure(rejection)
        case .success(let parsed): heartbeat = parsed
        }
        let group = heartbeat.group ?? ""
        guard let number = numbers[heartbeat.consumer] else {
            guard let number = add(heartbeat.consumer, group: group,
                                   ConsumerStateMachine(first: heartbeat, at: now, configuration: configuration)) else { return .success([]) }
            tracked[number].carrier = source
            interestChanged(number)
            touch(number)
            return .success([])
        }
        // In place: a copy of the machine out and back in cost more than the heartbeat itself.
        if tracked[number].group != group { tracked[number].group = group }
        if tracked[number].carrier != source { tracked[number].carrier = source }
        let before = tracked[number].machine.channels
        let transitions = tracked[number].machine.receive(heartbeat, at: now)
        if tracked[number].machine.channels != before { interestChanged(number) }
        touch(number)
        return .success(transitions.map { ConsumerTransition(consumer: heartbeat.consumer, group: group, transition: $0) })
    }

    /// A named connection holds subscriptions (`opened`) or no longer does (closed or unsubscribed;
    /// `subscriptions` is what it held). Consumers that send heartbeats are judged by them (their
    /// connection only counts reconnects and missed messages); the others by their connection.
    /// `group` names the group of a consumer first seen here (a stream consumer's).
    public mutating func namedConnection(_ name: String, subscribed: Bool, at now: Double, reason: String,
                                         subscriptions: ConnectionSubscriptions = .init(), group: String = "",
                                         kind: ConsumerStateMachine.Kind = .connection) -> ConsumerTransition? {
        guard let number = numbers[name] else {
            guard subscribed, let number = add(name, group: group, ConsumerStateMachine(connectionAt: now, kind: kind, configuration: configuration))
            else { return nil }
            touch(number)
            return nil
        }
        let transition = subscribed ? tracked[number].machine.connectionOpened(at: now)
            : tracked[number].machine.connectionClosed(at: now, reason: reason, subscriptions: subscriptions)
        interestChanged(number)
        touch(number)
        return transition.map { ConsumerTransition(consumer: name, group: tracked[number].group, transition: $0) }
    }

    /// Notes `messages` published on `channel`: traffic for the stall check and backlog of the
    /// consumers that serve it, missed messages for those away from it.
    public mutating func noteMessage(on channel: String, messages: Int = 1, at now: Double) {
        guard !declaring.isEmpty else { return }
        let serving: Set<Int>
        if let known = servers[channel] {
            serving = known
        } else {
            serving = declaring.filter { tracked[$0].machine.watches(channel) }
            if servers.count >= 10_000 { servers.removeAll() }
            servers[channel] = serving
        }
        for number in serving {
            let missed = tracked[number].machine.progress.missed
            tracked[number].machine.noteTraffic(on: channel, messages: messages, at: now)
            dueAt[number] = -.infinity
            if tracked[number].machine.progress.missed != missed { markChanged(number) }
        }
    }

    /// The channels whose traffic matters to consumer `number` changed: the channels known to
    /// carry traffic are updated for it alone.
    private mutating func interestChanged(_ number: Int) {
        let machine = tracked[number].machine
        let watching = machine.watchesChannels
        if watching {
            declaring.insert(number)
        } else if declaring.remove(number) == nil {
            return
        }
        for index in servers.indices {
            if watching && machine.watches(servers.keys[index]) {
                servers.values[index].insert(number)
            } else {
                servers.values[index].remove(number)
            }
        }
    }

    private mutating func markChanged(_ number: Int) {
        guard !tracked[number].changed else { return }
        tracked[number].changed = true
        changed.append(number)
    }

    /// Notes that consumer `number` changed: its series are due, its detector is looked at by
    /// the next evaluation, and its group's counts follow its state.
    private mutating func touch(_ number: Int) {
        markChanged(number)
        dueAt[number] = -.infinity
        let (group, state) = (tracked[number].group, tracked[number].machine.state)
        if let before = tracked[number].counted {
            guard before.group != group || before.state != state else { return }
            groupMembers[before.group]?[before.state]? -= 1
            touchedGroups.insert(before.group)
        }
        groupMembers[group, default: [:]][state, default: 0] += 1
        tracked[number].counted = (group, state)
        touchedGroups.insert(group)
    }

    private func snapshot(_ number: Int) -> ConsumerSnapshot {
        ConsumerSnapshot(consumer: tracked[number].name, group: tracked[number].group, detector: tracked[number].machine.saved)
    }

    /// The consumers changed since the last call (heartbeats, connections, state changes, missed
    /// messages), each once: what their series need, without visiting every consumer.
    public mutating func takeChanged() -> [ConsumerSnapshot] {
        guard !changed.isEmpty else { return [] }
        defer { changed.removeAll(keepingCapacity: true) }
        return changed.map { number in
            tracked[number].changed = false
            return snapshot(number)
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
        for number in tracked.indices where tracked[number].carrier == source {
            tracked[number].machine.silenceCounts(from: now)
            dueAt[number] = -.infinity
        }
    }

    /// Checks the consumers that can change by now (but those whose heartbeats go unseen now),
    /// in place; the transitions in consumer order.
    public mutating func evaluate(now: Double) -> [ConsumerTransition] {
        var transitions: [ConsumerTransition] = []
        var moved: [Int] = []
        for number in dueAt.indices where dueAt[number] <= now {
            if !sourcesNotWatching.isEmpty, sourcesNotWatching[tracked[number].carrier] != nil { continue }
            if let transition = tracked[number].machine.evaluate(now: now) {
                transitions.append(ConsumerTransition(consumer: tracked[number].name, group: tracked[number].group, transition: transition))
                moved.append(number)
            } else {
                dueAt[number] = tracked[number].machine.nextChange(after: now)
            }
        }
        // A consumer that moved is looked at again at the next evaluation (late, then down).
        for number in moved { touch(number) }
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
            let machine = ConsumerStateMachine(resuming: consumer.detector, at: now, configuration: configuration)
            let number: Int
            if let known = numbers[consumer.consumer] {
                number = known
                tracked[number].machine = machine
                tracked[number].group = consumer.group
            } else {
                guard let added = add(consumer.consumer, group: consumer.group, machine) else { continue }
                number = added
            }
            interestChanged(number)
            touch(number)
        }
        _ = updateGroups(at: now)
    }

    /// Consumers that declare the channels they serve.
    public var machinesServingChannels: [ConsumerStateMachine] {
        declaring.compactMap { tracked[$0].machine.channels.isEmpty ? nil : tracked[$0].machine }
    }

    /// The globs (not plain names) that live consumers (neither down nor stopped) declare in
    /// their heartbeats: patterns they say they consume.
    public var livePatterns: Set<String> {
        var patterns: Set<String> = []
        for number in declaring {
            let machine = tracked[number].machine
            guard machine.state != .down, machine.state != .stopped else { continue }
            for entry in machine.channels where PatternConsumers.isPattern(entry) { patterns.insert(entry) }
        }
        return patterns
    }

    public var consumers: [ConsumerSnapshot] {
        tracked.indices.map(snapshot).sorted { $0.consumer < $1.consumer }
    }
}
