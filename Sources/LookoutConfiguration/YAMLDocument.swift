import LookoutCore

/// A document a configuration names (an AsyncAPI document, a schema it refers to), YAML or
/// JSON, read as JSON values within the configuration file's own limits.
public enum YAMLDocument {
    /// Reads `text`; an empty document is `null`.
    /// - Throws: ``ConfigurationError`` naming the key of what cannot be read.
    public static func read(_ text: String) throws(ConfigurationError) -> JSONValue {
        try ServeConfiguration.plainValues(yaml: text).map(json) ?? .null
    }

    private static func json(_ value: Any) -> JSONValue {
        switch value {
        case let text as String: .string(text)
        case let flag as Bool: .bool(flag)
        case let number as Int: .number(Double(number))
        case let number as Double: .number(number)
        case let items as [Any]: .array(items.map(json))
        case let members as [String: Any]: .object(JSONObject(uniquing: members.sorted { $0.key < $1.key }.map { (key: $0.key, value: json($0.value)) }))
        default: .null
        }
    }
}
