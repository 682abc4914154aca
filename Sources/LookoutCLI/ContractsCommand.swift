import ArgumentParser
import Foundation
import LookoutApplication
import LookoutConfiguration
import LookoutCore
import Reports
import Store

/// `lookout contracts`: event contracts away from the server.
struct ContractsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contracts",
        abstract: "Work with event contracts (JSON Schema files, AsyncAPI documents).",
        subcommands: [Diff.self, Infer.self]
    )

    /// `lookout contracts diff OLD NEW`: what a schema change does to consumers and publishers,
    /// with an exit status a deploy pipeline can stop on.
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two versions of a contract (JSON Schema files or AsyncAPI documents): each change, and whether it breaks consumers or publishers.",
            discussion: """
                A change breaks consumers when a message valid under NEW is invalid under OLD (a consumer built on OLD \
                meets data it does not expect), and breaks publishers when a message valid under OLD is invalid under NEW. \
                Exit status: 0 when nothing breaks the side judged (--for), 1 when something does, 2 when a change \
                cannot be judged (two different patterns, a changed anyOf…) or a file cannot be used. \
                Two AsyncAPI documents (3.0 or 2.6) are compared channel by channel (by address) and message by message \
                (by id): a message added breaks consumers, one removed breaks publishers.
                """)

        @Argument(help: "The contract as it is (a JSON Schema file, or an AsyncAPI document in YAML or JSON).")
        var old: String

        @Argument(help: "The schema as it is about to be.")
        var new: String

        @Option(name: .customLong("for"), help: "Whose side decides the exit status: consumers, publishers or both.")
        var side = "consumers"

        @Option(help: "Output: table, json or csv.")
        var format = "table"

        func run() throws {
            guard let side = SchemaDiff.Side(rawValue: side) else {
                throw CommandFailure("--for: '\(side)' is not one of consumers, publishers, both", status: Lookout.invalidConfigurationStatus)
            }
            guard let format = OutputFormat(rawValue: format) else {
                throw CommandFailure("--format: '\(format)' is not one of table, json, csv", status: Lookout.invalidConfigurationStatus)
            }
            let diff: SchemaDiff
            do {
                switch (try document(old), try document(new)) {
                case (.schema(let before), .schema(let after)): diff = try SchemaDiff(old: before, new: after)
                case (.asyncAPI(let before), .asyncAPI(let after)): diff = try SchemaDiff(old: before, new: after)
                default:
                    throw CommandFailure("\(old) and \(new): one is an AsyncAPI document and the other a schema: compare like with like",
                                         status: Lookout.invalidConfigurationStatus)
                }
            } catch let error as CommandFailure {
                throw error
            } catch {
                throw CommandFailure("the schemas cannot be compared: \(error)", status: Lookout.invalidConfigurationStatus)
            }
            FileHandle.standardOutput.write(Data(Reports.schemaDiff(diff, format: format).utf8))
            if diff.hasUnknown { throw ExitCode(Lookout.invalidConfigurationStatus) }
            if diff.breaks(side) { throw ExitCode(1) }
        }

        /// What a file to compare holds.
        private enum Compared {
            case schema(JSONValue)
            case asyncAPI(AsyncAPIDocument)
        }

        /// A JSON Schema file (JSON), or an AsyncAPI document (YAML or JSON, with the files it refers to).
        private func document(_ path: String) throws -> Compared {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CommandFailure("\(path): cannot be read", status: Lookout.invalidConfigurationStatus)
            }
            let value: JSONValue
            do {
                value = try JSONValue.parse(data, maxDepth: 128)
            } catch {
                guard let yaml = try? YAMLDocument.read(String(decoding: data, as: UTF8.self)), yaml["asyncapi"] != nil else {
                    throw CommandFailure("\(path): not a JSON document (\(error)) nor an AsyncAPI document", status: Lookout.invalidConfigurationStatus)
                }
                value = yaml
            }
            if value["asyncapi"] != nil {
                do {
                    return .asyncAPI(try ContractSet.asyncAPI(path))
                } catch {
                    throw CommandFailure("\(error)", status: Lookout.invalidConfigurationStatus)
                }
            }
            do {
                _ = try JSONSchema(value)
            } catch {
                throw CommandFailure("\(path): not a schema Lookout can check: \(error)", status: Lookout.invalidConfigurationStatus)
            }
            return .schema(value)
        }
    }

    /// `lookout contracts infer CHANNEL`: the shape of a channel's payloads as a draft schema.
    struct Infer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a JSON Schema (draft 2020-12) of the payloads seen on a channel without a contract (channels.infer_shapes).",
            discussion: """
                The schema accepts every payload Lookout sampled on the channel: each field with the JSON types it held, \
                required when every object had it, string formats noted; fields never seen are allowed. Read from the \
                database, so it works after a restart. Review it, then make it the channel's contract.
                """)

        @Argument(help: "The channel (or group label).")
        var channel: String

        @Option(help: "SQLite database written by lookout serve (opened read-only).")
        var db = "lookout.db"

        func run() throws {
            let shape: PayloadShape
            do {
                shape = try StoreReader(path: db).shape(channel: channel)
            } catch {
                throw CommandFailure(error.description)
            }
            let title = "Payloads on \(channel), inferred by Lookout from \(shape.messages) message(s)"
            FileHandle.standardOutput.write(Data(Reports.document(shape.schema(title: title)).utf8))
        }
    }
}
