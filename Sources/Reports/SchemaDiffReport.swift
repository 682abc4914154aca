import Foundation
import LookoutCore

extension Reports {
    /// `lookout contracts diff`: each change with its pointer and verdict, then one line that
    /// sums it up (table); or the same as JSON / CSV.
    public static func schemaDiff(_ diff: SchemaDiff, format: OutputFormat) -> String {
        let rows = diff.changes.map { [$0.pointer.isEmpty ? "/" : $0.pointer, $0.verdict, $0.what] }
        switch format {
        case .table:
            var table = TextTable([.init("POINTER", shrinks: true), .init("VERDICT"), .init("CHANGE", shrinks: true)])
            rows.forEach { table.append($0) }
            let summary: String
            if diff.changes.isEmpty {
                summary = "no change"
            } else {
                let parts = [(diff.breaks(.consumers), "breaks consumers"), (diff.breaks(.publishers), "breaks publishers"),
                             (diff.hasUnknown, "has changes that cannot be judged")].filter(\.0).map(\.1)
                summary = "\(diff.changes.count) change(s); " + (parts.isEmpty ? "compatible" : parts.joined(separator: ", "))
            }
            var witnesses = ""
            func place(_ pointer: String) -> String { pointer.isEmpty ? "" : " at \(pointer)" }
            if let witness = diff.consumerWitness {
                witnesses += "breaks consumers, e.g. (valid under NEW, invalid under OLD)\(place(diff.consumerWitnessPlace)): \(witness.text)\n"
            }
            if let witness = diff.publisherWitness {
                witnesses += "breaks publishers, e.g. (valid under OLD, invalid under NEW)\(place(diff.publisherWitnessPlace)): \(witness.text)\n"
            }
            return (diff.changes.isEmpty ? "" : table.render(width: 120)) + summary + "\n" + witnesses
        case .json:
            return json([
                "changes": diff.changes.map { change -> [String: Any] in
                    ["pointer": change.pointer, "verdict": change.verdict, "change": change.what,
                     "breaks_consumers": change.breaksConsumers, "breaks_publishers": change.breaksPublishers, "unknown": change.unknown]
                },
                "breaks_consumers": diff.breaks(.consumers), "breaks_publishers": diff.breaks(.publishers), "unknown": diff.hasUnknown,
                "consumer_witness": foundation(diff.consumerWitness), "publisher_witness": foundation(diff.publisherWitness),
                "consumer_witness_place": diff.consumerWitnessPlace, "publisher_witness_place": diff.publisherWitnessPlace,
            ])
        case .csv:
            return CSV.render(header: ["pointer", "verdict", "change"], rows: rows)
        }
    }

    /// A JSON document, pretty-printed with sorted keys.
    public static func document(_ value: JSONValue) -> String {
        json(foundation(value))
    }

    /// A document as JSONSerialization takes it (null when there is none).
    private static func foundation(_ value: JSONValue?) -> Any {
        guard let value else { return NSNull() }
        return (try? JSONSerialization.jsonObject(with: Data(value.text.utf8), options: [.fragmentsAllowed])) ?? NSNull()
    }
}
