public import AMQPClient
public import Foundation

/// Any event of the pipeline, decoded strictly from a message body.
public enum OrderEvent: Sendable, Hashable {
    case orderPlaced(Event<OrderPlaced>)
    case inventoryReserved(Event<InventoryReserved>)
    case inventoryFailed(Event<InventoryFailed>)
    case notificationSent(Event<NotificationSent>)

    public var metadata: EventMetadata {
        switch self {
        case .orderPlaced(let event): event.metadata
        case .inventoryReserved(let event): event.metadata
        case .inventoryFailed(let event): event.metadata
        case .notificationSent(let event): event.metadata
        }
    }

    /// The item the event is about; `NotificationSent` names none.
    public var item: String? {
        switch self {
        case .orderPlaced(let event): event.payload.item
        case .inventoryReserved(let event): event.payload.item
        case .inventoryFailed(let event): event.payload.item
        case .notificationSent: nil
        }
    }

    public var eventType: EventType {
        switch self {
        case .orderPlaced: .orderPlaced
        case .inventoryReserved: .inventoryReserved
        case .inventoryFailed: .inventoryFailed
        case .notificationSent: .notificationSent
        }
    }

    private struct Head: Decodable {
        let eventType: String
        let schemaVersion: Int

        enum CodingKeys: String, CodingKey {
            case eventType = "event_type", schemaVersion = "schema_version"
        }
    }

    /// Decodes a message body, or says precisely what is wrong with it. Unknown fields are
    /// ignored; an unknown `event_type` or a newer `schema_version` is an error.
    public init(decoding body: Data) throws(EventDecodingError) {
        let decoder = EventCoding.makeDecoder()
        let head = try Self.decode(Head.self, from: body, with: decoder)
        guard head.schemaVersion <= EventMetadata.schemaVersion else { throw .unsupportedSchemaVersion(head.schemaVersion) }
        guard head.schemaVersion >= 1 else { throw .invalidValue(field: "schema_version", reason: "must be at least 1") }
        guard let type = EventType(rawValue: head.eventType) else { throw .unknownEventType(head.eventType) }
        switch type {
        case .orderPlaced: self = .orderPlaced(try Self.decodeEvent(body, with: decoder))
        case .inventoryReserved: self = .inventoryReserved(try Self.decodeEvent(body, with: decoder))
        case .inventoryFailed: self = .inventoryFailed(try Self.decodeEvent(body, with: decoder))
        case .notificationSent: self = .notificationSent(try Self.decodeEvent(body, with: decoder))
        }
    }

    private static func decodeEvent<P: EventPayload>(_ body: Data, with decoder: JSONDecoder) throws(EventDecodingError) -> Event<P> {
        let event = try decode(Event<P>.self, from: body, with: decoder)
        try event.payload.validate()
        return event
    }

    private static func decode<T: Decodable>(_ type: T.Type, from body: Data, with decoder: JSONDecoder) throws(EventDecodingError) -> T {
        do {
            return try decoder.decode(type, from: body)
        } catch let error as DecodingError {
            throw EventDecodingError(error)
        } catch {
            throw .notJSON("\(error)")
        }
    }
}

extension EventDecodingError {
    init(_ error: DecodingError) {
        func path(_ context: DecodingError.Context, _ key: (any CodingKey)? = nil) -> String {
            (context.codingPath + (key.map { [$0] } ?? [])).map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            self = .missingField(path(context, key))
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            self = .notJSON("expected an object, got \(context.debugDescription)")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            self = .wrongType(field: path(context), expected: Self.describe(type))
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            self = .notJSON(context.underlyingError.map { "\($0)" } ?? context.debugDescription)
        case .dataCorrupted(let context):
            self = .invalidValue(field: path(context), reason: context.debugDescription)
        @unknown default:
            self = .notJSON("\(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type, is UUID.Type, is Date.Type: "a string"
        case is Int.Type: "an integer"
        default: "\(type)"
        }
    }
}

extension Event {
    /// The message body.
    public func encoded() -> Data {
        // Encoding these plain value types cannot fail.
        (try? EventCoding.makeEncoder().encode(self)) ?? Data()
    }

    /// The AMQP properties CONTRACT §3 puts on every event.
    public func properties(appID: String, headers: AMQPTable? = nil) -> AMQPProperties {
        AMQPProperties(
            contentType: "application/json",
            headers: headers,
            deliveryMode: .persistent,
            messageID: metadata.eventID.uuidString.lowercased(),
            timestamp: metadata.timestamp,
            type: Payload.eventType.rawValue,
            appID: appID
        )
    }
}
