import AMQPClient
import Logging
import OrderEvents
import PostgresNIO
import ServiceRuntime

/// Reserves stock for each `OrderPlaced` and emits the outcome through the outbox, all in
/// the consumer's transaction: exactly one decision per order.
struct ReservationHandler: EventHandler {
    /// Several orders for the same items in concurrent transactions: each takes its stock
    /// rows in item order.
    func lock(_ events: [OrderEvent], on transaction: PostgresConnection, logger: Logger) async throws {
        try await StockLedger.lock(items: Set(events.compactMap(\.item)), on: transaction, logger: logger)
    }

    func handle(_ event: OrderEvent, delivery: AMQPDelivery, transaction: PostgresConnection, outbox: PendingOutbox, logger: Logger) async throws {
        guard case .orderPlaced(let placed) = event else {
            throw UnprocessableEvent("inventory-worker handles OrderPlaced, not \(event.eventType.rawValue)")
        }
        let line = placed.payload
        let metadata = EventMetadata(orderID: placed.metadata.orderID, causationID: placed.metadata.eventID)
        switch try await StockLedger.decide(placed, on: transaction, logger: logger) {
        case .reserved:
            logger.info("stock reserved", metadata: ["item": "\(line.item)", "quantity": "\(line.quantity)"])
            let reserved = Event(metadata: metadata, payload: InventoryReserved(userID: line.userID, item: line.item, quantity: line.quantity))
            outbox.add(reserved)
        case .failed(let reason):
            logger.info("stock not reserved", metadata: ["item": "\(line.item)", "reason": "\(reason.rawValue)"])
            let failed = Event(metadata: metadata, payload: InventoryFailed(userID: line.userID, item: line.item, quantity: line.quantity, reason: reason))
            outbox.add(failed)
        case .alreadyDecided:
            logger.info("order already decided; nothing to do")
        }
    }
}
