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

    /// Decodes a message body, or says precisely what is wrong with it. Unknown fields are
    /// ignored; an unknown `event_type` or a newer `schema_version` is an error.
    public init(decoding body: Data) throws(EventDecodingError) {
        let fields = try JSONObjectReader(parsing: body)
        let typeName = try fields.string("event_type")
        let version = try fields.integer("schema_version")
        guard version <= EventMetadata.schemaVersion else { throw .unsupportedSchemaVersion(version) }
        guard version >= 1 else { throw .invalidValue(field: "schema_version", reason: "must be at least 1") }
        guard let type = EventType(rawValue: typeName) else { throw .unknownEventType(typeName) }
        switch type {
        case .orderPlaced: self = .orderPlaced(try Event(reading: fields))
        case .inventoryReserved: self = .inventoryReserved(try Event(reading: fields))
        case .inventoryFailed: self = .inventoryFailed(try Event(reading: fields))
        case .notificationSent: self = .notificationSent(try Event(reading: fields))
        }
    }
}

extension Event {
    /// The AMQP properties CONTRACT §3 puts on every event.
    public func properties(appID: String, headers: AMQPTable? = nil) -> AMQPProperties {
        AMQPProperties(
            contentType: "application/json",
            headers: headers,
            deliveryMode: .persistent,
            messageID: metadata.eventID.lowercasedText,
            timestamp: metadata.timestamp,
            type: Payload.eventType.rawValue,
            appID: appID
        )
    }
}
