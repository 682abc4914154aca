import LookoutCore

/// The inferred payload shapes of channels without a contract: one row per channel, replaced
/// as the shape grows, so that `lookout contracts infer` works from the store (after a restart
/// too). Kept until the channel's shape is replaced; a few KiB each, at most
/// ``InferredShapes/maxChannels`` channels.
enum ChannelShapeRows {
    static func write(_ shapes: [String: PayloadShape], at now: Double, to connection: SQLiteConnection) throws -> Int {
        for (channel, shape) in shapes {
            try connection.run("""
                INSERT INTO channel_shapes (channel, shape, messages, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (channel) DO UPDATE SET shape = excluded.shape, messages = excluded.messages, updated_at = excluded.updated_at
                """, [.text(channel), .text(shape.json.text), .integer(Int64(shape.messages)), .real(now)])
        }
        return shapes.count
    }
}

extension StoreWriter {
    /// The shapes stored by earlier runs, by channel (a row that cannot be read is left out).
    public func savedShapes() throws -> [String: PayloadShape] {
        let rows = try withConnection { connection in
            try connection.query("SELECT channel, shape FROM channel_shapes") { ($0.text(0) ?? "", $0.text(1) ?? "") }
        }
        var shapes: [String: PayloadShape] = [:]
        for (channel, text) in rows {
            if let value = try? JSONValue.parse(Array(text.utf8), maxDepth: 128), let shape = PayloadShape(json: value) { shapes[channel] = shape }
        }
        return shapes
    }
}

extension StoreReader {
    /// The payload shape inferred on `channel` (a label) as last stored.
    /// - Throws: ``StoreQueryError`` (an unknown name) when none was stored.
    public func shape(channel: String) throws(StoreQueryError) -> PayloadShape {
        let stored = try attempt {
            try connection.query("SELECT shape FROM channel_shapes WHERE channel = ?", [.text(channel)]) { $0.text(0) }.first ?? nil
        }
        guard let stored else {
            throw StoreQueryError("no shape was inferred on '\(channel)' (with channels.infer_shapes, for channels without a contract that carry JSON)",
                                  isUnknownName: true)
        }
        guard let value = try? JSONValue.parse(Array(stored.utf8), maxDepth: 128), let shape = PayloadShape(json: value) else {
            throw StoreQueryError("the shape stored for '\(channel)' cannot be read")
        }
        return shape
    }
}
