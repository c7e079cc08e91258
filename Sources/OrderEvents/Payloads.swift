/// A customer placed an order (published by order-api).
public struct OrderPlaced: EventPayload {
    public static let eventType = EventType.orderPlaced
    public var userID: String
    public var item: String
    public var quantity: Int

    public init(userID: String, item: String, quantity: Int) {
        self.userID = userID
        self.item = item
        self.quantity = quantity
    }

    public init(reading fields: JSONObjectReader) throws(EventDecodingError) {
        self.init(userID: try fields.string("user_id"), item: try fields.string("item"), quantity: try fields.integer("quantity"))
    }

    public func write(to object: inout JSONObjectWriter) {
        writeOrderLine(userID: userID, item: item, quantity: quantity, to: &object)
    }

    public func validate() throws(EventDecodingError) {
        try requireOrderLine(userID: userID, item: item, quantity: quantity)
    }
}

/// Stock was held for an order (published by inventory-worker).
public struct InventoryReserved: EventPayload {
    public static let eventType = EventType.inventoryReserved
    public var userID: String
    public var item: String
    public var quantity: Int

    public init(userID: String, item: String, quantity: Int) {
        self.userID = userID
        self.item = item
        self.quantity = quantity
    }

    public init(reading fields: JSONObjectReader) throws(EventDecodingError) {
        self.init(userID: try fields.string("user_id"), item: try fields.string("item"), quantity: try fields.integer("quantity"))
    }

    public func write(to object: inout JSONObjectWriter) {
        writeOrderLine(userID: userID, item: item, quantity: quantity, to: &object)
    }

    public func validate() throws(EventDecodingError) {
        try requireOrderLine(userID: userID, item: item, quantity: quantity)
    }
}

/// Why stock could not be reserved.
public enum InventoryFailureReason: String, Sendable, Hashable, Codable, CaseIterable {
    case insufficientStock = "insufficient_stock"
    case unknownItem = "unknown_item"
}

/// Stock could not be reserved for an order (published by inventory-worker).
public struct InventoryFailed: EventPayload {
    public static let eventType = EventType.inventoryFailed
    public var userID: String
    public var item: String
    public var quantity: Int
    public var reason: InventoryFailureReason

    public init(userID: String, item: String, quantity: Int, reason: InventoryFailureReason) {
        self.userID = userID
        self.item = item
        self.quantity = quantity
        self.reason = reason
    }

    public init(reading fields: JSONObjectReader) throws(EventDecodingError) {
        self.init(
            userID: try fields.string("user_id"), item: try fields.string("item"), quantity: try fields.integer("quantity"),
            reason: try fields.oneOf("reason")
        )
    }

    public func write(to object: inout JSONObjectWriter) {
        writeOrderLine(userID: userID, item: item, quantity: quantity, to: &object)
        object.write("reason", reason.rawValue)
    }

    public func validate() throws(EventDecodingError) {
        try requireOrderLine(userID: userID, item: item, quantity: quantity)
    }
}

/// What the customer was told about.
public enum NotificationOutcome: String, Sendable, Hashable, Codable, CaseIterable {
    case reserved
    case rejected
}

/// The customer was notified (published by notification-worker).
public struct NotificationSent: EventPayload {
    public static let eventType = EventType.notificationSent
    public var userID: String
    /// How the customer was reached, for example `log` or `webhook`.
    public var channel: String
    public var outcome: NotificationOutcome

    public init(userID: String, channel: String, outcome: NotificationOutcome) {
        self.userID = userID
        self.channel = channel
        self.outcome = outcome
    }

    public init(reading fields: JSONObjectReader) throws(EventDecodingError) {
        self.init(userID: try fields.string("user_id"), channel: try fields.string("channel"), outcome: try fields.oneOf("outcome"))
    }

    public func write(to object: inout JSONObjectWriter) {
        object.write("user_id", userID)
        object.write("channel", channel)
        object.write("outcome", outcome.rawValue)
    }

    public func validate() throws(EventDecodingError) {
        if userID.isEmpty { throw .invalidValue(field: "user_id", reason: "must not be empty") }
        if channel.isEmpty { throw .invalidValue(field: "channel", reason: "must not be empty") }
    }
}

private func requireOrderLine(userID: String, item: String, quantity: Int) throws(EventDecodingError) {
    if userID.isEmpty { throw .invalidValue(field: "user_id", reason: "must not be empty") }
    if item.isEmpty { throw .invalidValue(field: "item", reason: "must not be empty") }
    if quantity < 1 { throw .invalidValue(field: "quantity", reason: "must be at least 1, got \(quantity)") }
}

private func writeOrderLine(userID: String, item: String, quantity: Int, to object: inout JSONObjectWriter) {
    object.write("user_id", userID)
    object.write("item", item)
    object.write("quantity", quantity)
}
