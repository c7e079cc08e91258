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
    /// ignored; an unknown `event_type` or a newer `schema_version` is an error. The body is
    /// parsed once: the head decides which event the same decoder goes on to read.
    public init(decoding body: Data) throws(EventDecodingError) {
        do {
            self = try EventCoding.makeDecoder().decode(Decoded.self, from: body).event
        } catch let error as EventDecodingError {
            throw error
        } catch let error as DecodingError {
            throw EventDecodingError(error)
        } catch {
            throw .notJSON("\(error)")
        }
    }

    private struct Decoded: Decodable {
        let event: OrderEvent

        init(from decoder: any Decoder) throws {
            let head = try Head(from: decoder)
            guard head.schemaVersion <= EventMetadata.schemaVersion else { throw EventDecodingError.unsupportedSchemaVersion(head.schemaVersion) }
            guard head.schemaVersion >= 1 else { throw EventDecodingError.invalidValue(field: "schema_version", reason: "must be at least 1") }
            guard let type = EventType(rawValue: head.eventType) else { throw EventDecodingError.unknownEventType(head.eventType) }
            switch type {
            case .orderPlaced: event = .orderPlaced(try Self.event(from: decoder))
            case .inventoryReserved: event = .inventoryReserved(try Self.event(from: decoder))
            case .inventoryFailed: event = .inventoryFailed(try Self.event(from: decoder))
            case .notificationSent: event = .notificationSent(try Self.event(from: decoder))
            }
        }

        private static func event<P: EventPayload>(from decoder: any Decoder) throws -> Event<P> {
            let event = try Event<P>(from: decoder)
            try event.payload.validate()
            return event
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
