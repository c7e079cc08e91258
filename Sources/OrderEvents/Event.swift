public import Foundation

/// What every event carries besides its payload (CONTRACT §3).
public struct EventMetadata: Sendable, Hashable {
    /// The schema version this code writes, and the highest it reads.
    public static let schemaVersion = 1

    public var eventID: UUID
    public var orderID: UUID
    /// Whole milliseconds, as the wire carries it.
    public var timestamp: Date
    /// The `event_id` of the event that caused this one; nil on `OrderPlaced`.
    public var causationID: UUID?

    public init(eventID: UUID = UUID(), orderID: UUID, timestamp: Date = Date(), causationID: UUID? = nil) {
        self.eventID = eventID
        self.orderID = orderID
        self.timestamp = EventCoding.wholeMilliseconds(timestamp)
        self.causationID = causationID
    }
}

/// The fields particular to one kind of event.
public protocol EventPayload: Codable, Sendable, Hashable {
    static var eventType: EventType { get }
    /// Rules beyond types that a well-formed event obeys.
    func validate() throws(EventDecodingError)
}

extension EventPayload {
    public func validate() throws(EventDecodingError) {}
}

/// An event as it travels: one flat JSON object of metadata and payload fields, snake_case.
public struct Event<Payload: EventPayload>: Sendable, Hashable, Codable {
    public var metadata: EventMetadata
    public var payload: Payload

    public init(metadata: EventMetadata, payload: Payload) {
        self.metadata = metadata
        self.payload = payload
    }

    public var eventType: EventType { Payload.eventType }

    private enum MetadataKeys: String, CodingKey {
        case eventID = "event_id"
        case eventType = "event_type"
        case schemaVersion = "schema_version"
        case orderID = "order_id"
        case timestamp
        case causationID = "causation_id"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: MetadataKeys.self)
        metadata = EventMetadata(
            eventID: try container.decode(UUID.self, forKey: .eventID),
            orderID: try container.decode(UUID.self, forKey: .orderID),
            timestamp: try container.decode(Date.self, forKey: .timestamp),
            causationID: try container.decodeIfPresent(UUID.self, forKey: .causationID)
        )
        payload = try Payload(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: MetadataKeys.self)
        // Ids in lowercase, as the API and the message id write them.
        try container.encode(metadata.eventID.uuidString.lowercased(), forKey: .eventID)
        try container.encode(Payload.eventType, forKey: .eventType)
        try container.encode(EventMetadata.schemaVersion, forKey: .schemaVersion)
        try container.encode(metadata.orderID.uuidString.lowercased(), forKey: .orderID)
        try container.encode(metadata.timestamp, forKey: .timestamp)
        try container.encodeIfPresent(metadata.causationID?.uuidString.lowercased(), forKey: .causationID)
        try payload.encode(to: encoder)
    }
}
