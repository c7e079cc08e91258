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
        _ = try await transaction.execute(Record(notifications: notifications, channel: notifier.channel), logger: events[0].logger)
        for (pending, notification) in zip(events, notifications) {
            let sent = Event(
                metadata: EventMetadata(orderID: notification.orderID, causationID: notification.notificationID),
                payload: NotificationSent(userID: notification.userID, channel: notifier.channel, outcome: notification.outcome)
            )
            outbox.add(sent, causedBy: pending)
        }
    }

    struct Record: PostgresPreparedStatement {
        typealias Row = ()
        static let sql = """
            insert into notifications (event_id, order_id, user_id, channel, outcome)
            select event_id, order_id, user_id, $5, outcome
            from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) as notification(event_id, order_id, user_id, outcome)
            """
        let notifications: [Notification]
        let channel: String

        func makeBindings() -> PostgresBindings {
            .of(notifications.map(\.notificationID), notifications.map(\.orderID), notifications.map(\.userID), notifications.map(\.outcome.rawValue), channel)
        }

        func decodeRow(_ row: PostgresRow) throws {}
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
