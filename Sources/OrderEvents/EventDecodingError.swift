/// Why a message is not a valid event. Its description is what a consumer writes into the
/// `x-error` header when it dead-letters the message.
public enum EventDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    case notJSON(String)
    case missingField(String)
    case wrongType(field: String, expected: String)
    case invalidValue(field: String, reason: String)
    case unknownEventType(String)
    case unsupportedSchemaVersion(Int)

    public var description: String {
        switch self {
        case .notJSON(let detail): "not a JSON object: \(detail)"
        case .missingField(let field): "missing field '\(field)'"
        case .wrongType(let field, let expected): "field '\(field)' must be \(expected)"
        case .invalidValue(let field, let reason): "field '\(field)' is invalid: \(reason)"
        case .unknownEventType(let type): "unknown event_type '\(type)'"
        case .unsupportedSchemaVersion(let version): "schema_version \(version) is newer than the supported \(EventMetadata.schemaVersion)"
        }
    }
}
