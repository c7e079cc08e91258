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

    public init(eventID: UUID = .random(), orderID: UUID, timestamp: Date = Date(), causationID: UUID? = nil) {
        self.eventID = eventID
        self.orderID = orderID
        self.timestamp = EventCoding.wholeMilliseconds(timestamp)
        self.causationID = causationID
    }
}

/// The fields particular to one kind of event.
public protocol EventPayload: Sendable, Hashable {
    static var eventType: EventType { get }
    /// Reads the payload's fields from an event's wire form.
    init(reading fields: JSONObjectReader) throws(EventDecodingError)
    /// Writes the payload's fields into an event's wire form.
    func write(to object: inout JSONObjectWriter)
    /// Rules beyond types that a well-formed event obeys.
    func validate() throws(EventDecodingError)
}

extension EventPayload {
    public func validate() throws(EventDecodingError) {}
}

/// An event as it travels: one flat JSON object of metadata and payload fields, snake_case.
public struct Event<Payload: EventPayload>: Sendable, Hashable {
    public var metadata: EventMetadata
    public var payload: Payload

    public init(metadata: EventMetadata, payload: Payload) {
        self.metadata = metadata
        self.payload = payload
    }

    public var eventType: EventType { Payload.eventType }

    /// Reads the metadata and the payload, and checks the payload's rules.
    init(reading fields: JSONObjectReader) throws(EventDecodingError) {
        metadata = EventMetadata(
            eventID: try fields.uuid("event_id"),
            orderID: try fields.uuid("order_id"),
            timestamp: try fields.timestamp("timestamp"),
            causationID: try fields.optionalUUID("causation_id")
        )
        payload = try Payload(reading: fields)
        try payload.validate()
    }

    /// The message body.
    public func encoded() -> Data {
        var object = JSONObjectWriter()
        // Ids in lowercase, as the API and the message id write them.
        object.write("event_id", metadata.eventID.lowercasedText)
        object.write("event_type", Payload.eventType.rawValue)
        object.write("schema_version", EventMetadata.schemaVersion)
        object.write("order_id", metadata.orderID.lowercasedText)
        object.write("timestamp", EventCoding.formatTimestamp(metadata.timestamp))
        if let causationID = metadata.causationID { object.write("causation_id", causationID.lowercasedText) }
        payload.write(to: &object)
        return object.data
    }
}
