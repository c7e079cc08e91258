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

    func handle(_ events: [PendingEvent], transaction: PostgresConnection, outbox: PendingOutbox) async throws {
        let notifications = try events.map { try Self.notification(for: $0.event) }
        try await transaction.query("""
            insert into notifications (event_id, order_id, user_id, channel, outcome)
            select event_id, order_id, user_id, \(notifier.channel), outcome
            from unnest(
                \(notifications.map(\.notificationID))::uuid[], \(notifications.map(\.orderID))::uuid[],
                \(notifications.map(\.userID))::text[], \(notifications.map(\.outcome.rawValue))::text[]
            ) as notification(event_id, order_id, user_id, outcome)
            """, logger: events[0].logger)
        for (pending, notification) in zip(events, notifications) {
            let sent = Event(
                metadata: EventMetadata(orderID: notification.orderID, causationID: notification.notificationID),
                payload: NotificationSent(userID: notification.userID, channel: notifier.channel, outcome: notification.outcome)
            )
            outbox.add(sent, causedBy: pending)
        }
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
