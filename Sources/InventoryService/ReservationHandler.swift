import AMQPClient
import Logging
import OrderEvents
import PostgresNIO
import ServiceRuntime

/// Reserves stock for each `OrderPlaced` and emits the outcome through the outbox, all in
/// the consumer's transaction: exactly one decision per order.
struct ReservationHandler: EventHandler {
    func handle(_ events: [PendingEvent], transaction: PostgresConnection, outbox: PendingOutbox) async throws {
        let placed = try events.map { pending in
            guard case .orderPlaced(let placed) = pending.event else {
                throw UnprocessableEvent("inventory-worker handles OrderPlaced, not \(pending.event.eventType.rawValue)")
            }
            return placed
        }
        let decisions = try await StockLedger.decide(placed, on: transaction, logger: events[0].logger)
        for ((pending, placed), decision) in zip(zip(events, placed), decisions) {
            let line = placed.payload
            let metadata = EventMetadata(orderID: placed.metadata.orderID, causationID: placed.metadata.eventID)
            switch decision {
            case .reserved:
                pending.logger.info("stock reserved", metadata: ["item": "\(line.item)", "quantity": "\(line.quantity)"])
                outbox.add(Event(metadata: metadata, payload: InventoryReserved(userID: line.userID, item: line.item, quantity: line.quantity)), causedBy: pending)
            case .failed(let reason):
                pending.logger.info("stock not reserved", metadata: ["item": "\(line.item)", "reason": "\(reason.rawValue)"])
                outbox.add(Event(metadata: metadata, payload: InventoryFailed(userID: line.userID, item: line.item, quantity: line.quantity, reason: reason)), causedBy: pending)
            case .alreadyDecided:
                pending.logger.info("order already decided; nothing to do")
            }
        }
    }
}
