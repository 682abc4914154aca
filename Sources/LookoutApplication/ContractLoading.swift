import Foundation
import LookoutConfiguration
import LookoutCore

/// A contract's schema file or AsyncAPI document that cannot be used, named by its
/// configuration key.
public struct ContractFileError: Error, CustomStringConvertible {
    public var key: String
    public var reason: String
    public var description: String { "\(key): \(reason)" }
}

extension ContractSet {
    /// Reads and compiles every contract's schema files and AsyncAPI documents.
    /// - Throws: ``ContractFileError`` naming the contract and the event type or the place in
    ///   the document: a file missing, not JSON (or YAML), a schema that uses a keyword the
    ///   validator does not assert, an AsyncAPI document Lookout cannot read, two contracts
    ///   that can match the same channel.
    public static func load(_ sources: [ContractSource]) throws(ContractFileError) -> ContractSet {
        var contracts: [EventContract] = []
        for (index, source) in sources.enumerated() {
            switch source {
            case .schemas(let setting): contracts.append(try contract(setting, key: "contracts[\(index)]"))
            case .asyncAPI(let path):
                do {
                    contracts += try asyncAPI(path).channels.map(\.contract)
                } catch {
                    throw ContractFileError(key: "contracts[\(index)].asyncapi", reason: error.description)
                }
            }
        }
        if let (first, second) = firstOverlap(contracts.map(\.channels)) {
            throw ContractFileError(key: contracts[second].origin, reason: "'\(contracts[second].channels)' and \(contracts[first].origin)'s "
                                    + "'\(contracts[first].channels)' can match the same channel: give each channel one contract")
        }
        return ContractSet(contracts)
    }

    /// Reads the AsyncAPI document at `path` and the files its references name.
    public static func asyncAPI(_ path: String) throws(AsyncAPIDocument.Problem) -> AsyncAPIDocument {
        try AsyncAPIDocument(file: path, root: try readDocument(path), load: readDocument)
    }

    /// A YAML or JSON file as JSON values.
    private static func readDocument(_ path: String) throws(AsyncAPIDocument.Problem) -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .init(file: path, pointer: "", reason: "cannot read '\(path)'")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .init(file: path, pointer: "", reason: "'\(path)' is not UTF-8 text") }
        do {
            return try YAMLDocument.read(text)
        } catch {
            throw .init(file: path, pointer: "", reason: "'\(path)' is not YAML or JSON (\(error))")
        }
    }

    private static func contract(_ setting: ContractSetting, key: String) throws(ContractFileError) -> EventContract {
        var schemas: [String: JSONSchema] = [:]
        for (type, path) in setting.schemaFiles.sorted(by: { $0.key < $1.key }) {
            let key = "\(key).schemas.\(type)"
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
        var contract = EventContract(channels: setting.channels, format: setting.format, fields: setting.fields, schemas: schemas,
                                     requireSchema: setting.requireSchema, checksSequence: setting.sequence,
                                     duplicateWindow: setting.duplicates)
        contract.origin = key
        return contract
    }
}
