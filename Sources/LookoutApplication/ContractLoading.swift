import Foundation
import LookoutConfiguration
import LookoutCore

/// A contract's schema file that cannot be used, named by its configuration key.
public struct ContractFileError: Error, CustomStringConvertible {
    public var key: String
    public var reason: String
    public var description: String { "\(key): \(reason)" }
}

extension ContractSet {
    /// Reads and compiles every contract's schema files.
    /// - Throws: ``ContractFileError`` naming the contract and the event type: a file missing,
    ///   not JSON, or a schema that uses a keyword the validator does not assert.
    public static func load(_ settings: [ContractSetting]) throws(ContractFileError) -> ContractSet {
        var contracts: [EventContract] = []
        for (index, setting) in settings.enumerated() {
            var schemas: [String: JSONSchema] = [:]
            for (type, path) in setting.schemaFiles.sorted(by: { $0.key < $1.key }) {
                let key = "contracts[\(index)].schemas.\(type)"
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw ContractFileError(key: key, reason: "cannot read the schema file '\(path)'")
                }
                do {
                    schemas[type] = try JSONSchema(try JSONValue.parse(data, maxDepth: 128))
                } catch let error as JSONSchema.CompileError {
                    throw ContractFileError(key: key, reason: "'\(path)' \(error)")
                } catch {
                    throw ContractFileError(key: key, reason: "'\(path)' is not JSON (\(error))")
                }
            }
            contracts.append(EventContract(channels: setting.channels, format: setting.format, fields: setting.fields, schemas: schemas,
                                           requireSchema: setting.requireSchema, checksSequence: setting.sequence,
                                           duplicateWindow: setting.duplicates))
        }
        return ContractSet(contracts)
    }
}
