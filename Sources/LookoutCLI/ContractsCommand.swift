import ArgumentParser
import Foundation
import LookoutCore
import Reports

/// `lookout contracts`: event contracts away from the server.
struct ContractsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contracts",
        abstract: "Work with event contracts (JSON Schema files).",
        subcommands: [Diff.self]
    )

    /// `lookout contracts diff OLD NEW`: what a schema change does to consumers and publishers,
    /// with an exit status a deploy pipeline can stop on.
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two versions of a JSON Schema contract: each change, and whether it breaks consumers or publishers.",
            discussion: """
                A change breaks consumers when a message valid under NEW is invalid under OLD (a consumer built on OLD \
                meets data it does not expect), and breaks publishers when a message valid under OLD is invalid under NEW. \
                Exit status: 0 when nothing breaks the side judged (--for), 1 when something does, 2 when a change \
                cannot be judged (two different patterns, a changed anyOf…) or a file cannot be used.
                """)

        @Argument(help: "The contract's schema as it is (a JSON Schema file).")
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
                diff = try SchemaDiff(old: try document(old), new: try document(new))
            } catch let error as CommandFailure {
                throw error
            } catch {
                throw CommandFailure("the schemas cannot be compared: \(error)", status: Lookout.invalidConfigurationStatus)
            }
            FileHandle.standardOutput.write(Data(Reports.schemaDiff(diff, format: format).utf8))
            if diff.hasUnknown { throw ExitCode(Lookout.invalidConfigurationStatus) }
            if diff.breaks(side) { throw ExitCode(1) }
        }

        private func document(_ path: String) throws -> JSONValue {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CommandFailure("\(path): cannot be read", status: Lookout.invalidConfigurationStatus)
            }
            let value: JSONValue
            do {
                value = try JSONValue.parse(data, maxDepth: 128)
            } catch {
                throw CommandFailure("\(path): not a JSON document (\(error))", status: Lookout.invalidConfigurationStatus)
            }
            do {
                _ = try JSONSchema(value)
            } catch {
                throw CommandFailure("\(path): not a schema Lookout can check: \(error)", status: Lookout.invalidConfigurationStatus)
            }
            return value
        }
    }
}
