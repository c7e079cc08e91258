/// The kinds of event in the pipeline, each with the exchange and routing key it is
/// published with (CONTRACT §3).
public enum EventType: String, Sendable, CaseIterable, Codable {
    case orderPlaced = "OrderPlaced"
    case inventoryReserved = "InventoryReserved"
    case inventoryFailed = "InventoryFailed"
    case notificationSent = "NotificationSent"

    public var exchange: String {
        switch self {
        case .orderPlaced: Exchanges.orders
        case .inventoryReserved, .inventoryFailed: Exchanges.inventory
        case .notificationSent: Exchanges.notifications
        }
    }

    public var routingKey: String {
        switch self {
        case .orderPlaced: "order.placed"
        case .inventoryReserved: "inventory.reserved"
        case .inventoryFailed: "inventory.failed"
        case .notificationSent: "notification.sent"
        }
    }
}
