extension SchemaDiff {
    /// Two AsyncAPI documents compared channel by channel (matched by address) and message by
    /// message (matched by id): each payload as two schemas are, under
    /// `/channels/ADDRESS/messages/ID/payload`. A message added breaks consumers (an event
    /// they do not expect), a message removed breaks publishers (an event no longer accepted);
    /// a channel added or removed breaks neither (a channel without a contract takes anything).
    public init(old: AsyncAPIDocument, new: AsyncAPIDocument) throws(JSONSchema.CompileError) {
        var changes: [Change] = []
        var consumerWitness: (JSONValue, String)?
        var publisherWitness: (JSONValue, String)?
        let oldChannels = Dictionary(old.channels.map { ($0.address, $0) }) { first, _ in first }
        let newChannels = Dictionary(new.channels.map { ($0.address, $0) }) { first, _ in first }
        for address in Set(oldChannels.keys).union(newChannels.keys).sorted() {
            let channelPointer = "/channels/" + JSONValue.pointerToken(address)
            guard let before = oldChannels[address], let after = newChannels[address] else {
                let what = oldChannels[address] == nil ? "channel added" : "channel removed (its events are no longer checked)"
                changes.append(Change(pointer: channelPointer, what: what, breaksConsumers: false, breaksPublishers: false, unknown: false))
                continue
            }
            let oldMessages = Dictionary(before.messages.map { ($0.id, $0) }) { first, _ in first }
            let newMessages = Dictionary(after.messages.map { ($0.id, $0) }) { first, _ in first }
            for id in Set(oldMessages.keys).union(newMessages.keys).sorted() {
                let messagePointer = channelPointer + "/messages/" + JSONValue.pointerToken(id)
                guard let oldMessage = oldMessages[id], let newMessage = newMessages[id] else {
                    let added = oldMessages[id] == nil
                    changes.append(Change(pointer: messagePointer, what: added ? "message added" : "message removed",
                                          breaksConsumers: added, breaksPublishers: !added, unknown: false))
                    continue
                }
                let payload = try SchemaDiff(old: oldMessage.schema, new: newMessage.schema)
                let place = messagePointer + "/payload"
                changes += payload.changes.map { change in
                    var placed = change
                    placed.pointer = place + change.pointer
                    return placed
                }
                if consumerWitness == nil, let witness = payload.consumerWitness { consumerWitness = (witness, place) }
                if publisherWitness == nil, let witness = payload.publisherWitness { publisherWitness = (witness, place) }
            }
        }
        self.changes = changes
        self.consumerWitness = consumerWitness?.0
        self.publisherWitness = publisherWitness?.0
        consumerWitnessPlace = consumerWitness?.1 ?? ""
        publisherWitnessPlace = publisherWitness?.1 ?? ""
    }
}

extension AsyncAPIDocument.Message {
    /// The name a diff matches it by: its id (the key in `messages`, `messageId`), else its `name`,
    /// else its place.
    public var id: String { names.first ?? pointer }
}
