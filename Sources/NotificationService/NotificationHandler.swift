import AMQPClient
import Foundation
import Logging
import OrderEvents
import PostgresNIO
import ServiceRuntime

/// Notifies the customer of each inventory outcome (a call-out, made for a transaction's
/// events at once), records it, and emits `NotificationSent` through the outbox, in the
/// consumer's transaction.
struct NotificationHandler: EventHandler {
    let notifier: any Notifier

    func callOut(for event: OrderEvent, delivery: AMQPDelivery, logger: Logger) async throws {
        try await notifier.send(try Self.notification(for: event), logger: logger)
    }

    func handle(_ event: OrderEvent, delivery: AMQPDelivery, transaction: PostgresConnection, outbox: PendingOutbox, logger: Logger) async throws {
        let notification = try Self.notification(for: event)
        try await transaction.query("""
            insert into notifications (event_id, order_id, user_id, channel, outcome)
            values (\(notification.notificationID), \(notification.orderID), \(notification.userID), \(notifier.channel), \(notification.outcome.rawValue))
            """, logger: logger)
        let sent = Event(
            metadata: EventMetadata(orderID: notification.orderID, causationID: notification.notificationID),
            payload: NotificationSent(userID: notification.userID, channel: notifier.channel, outcome: notification.outcome)
        )
        outbox.add(sent)
    }

    /// What the customer is told about `event`.
    static func notification(for event: OrderEvent) throws -> Notification {
        switch event {
        case .inventoryReserved(let reserved):
            let line = reserved.payload
            return Notification(
                notificationID: reserved.metadata.eventID, orderID: reserved.metadata.orderID, userID: line.userID,
                item: line.item, quantity: line.quantity, outcome: .reserved, reason: nil
            )
        case .inventoryFailed(let failed):
            let line = failed.payload
            return Notification(
                notificationID: failed.metadata.eventID, orderID: failed.metadata.orderID, userID: line.userID,
                item: line.item, quantity: line.quantity, outcome: .rejected, reason: line.reason
            )
        default:
            throw UnprocessableEvent("notification-worker handles InventoryReserved and InventoryFailed, not \(event.eventType.rawValue)")
        }
    }
}
