import AMQPClient
import Foundation
import Logging
import OrderEvents
import PostgresNIO
import ServiceRuntime

/// Projects each order's status from the events on `order-status`, idempotently (through
/// the consumer's processed events) and monotonically (through `OrderStatus`).
struct StatusProjection: EventHandler {
    let store: OrderStore

    /// Several events for the same orders in concurrent transactions: each takes its order
    /// rows in id order.
    func lock(_ events: [OrderEvent], on transaction: PostgresConnection, logger: Logger) async throws {
        try await store.lock(Set(events.map(\.metadata.orderID)), on: transaction, logger: logger)
    }

    func handle(_ event: OrderEvent, delivery: AMQPDelivery, transaction: PostgresConnection, outbox: PendingOutbox, logger: Logger) async throws {
        let orderID = event.metadata.orderID
        let time = event.metadata.timestamp
        if delivery.exchange == Exchanges.deadLetter {
            // Of what is dead-lettered from `order-events`, only an OrderPlaced says anything
            // about an order; anything else there was misrouted, and its original waits in the DLQ.
            guard case .orderPlaced = event else { return }
            let deadLetter = DeadLetter(headers: delivery.headers)
            let (status, reason) = Self.outcome(of: deadLetter)
            try await store.advance(orderID, to: status, reason: reason, detail: "OrderPlaced dead-lettered: \(deadLetter.summary)", at: Date(), on: transaction, logger: logger)
            return
        }
        switch event {
        case .inventoryReserved(let reserved):
            try await store.advance(orderID, to: .reserved, reason: nil, detail: "\(reserved.payload.quantity) × \(reserved.payload.item) reserved", at: time, on: transaction, logger: logger)
        case .inventoryFailed(let failed):
            let reason = failed.payload.reason.rawValue
            try await store.advance(orderID, to: .rejected, reason: reason, detail: reason, at: time, on: transaction, logger: logger)
        case .notificationSent(let sent):
            try await store.markNotified(orderID, at: time, detail: "\(sent.payload.outcome.rawValue) via \(sent.payload.channel)", on: transaction, logger: logger)
        case .orderPlaced:
            throw UnprocessableEvent("order-status receives OrderPlaced only when it was dead-lettered")
        }
    }

    /// `expired` when the broker expired the `OrderPlaced`, otherwise `failed`; the reason is
    /// the dead letter's.
    static func outcome(of deadLetter: DeadLetter) -> (OrderStatus, String) {
        (deadLetter.reason == .expired ? .expired : .failed, deadLetter.reason?.rawValue ?? "dead_lettered")
    }

    /// A dead-lettered `OrderPlaced` keeps its `event_id`, and after a replay the same event may
    /// be dead-lettered again for another reason; projecting dead letters is idempotent by itself.
    func recordsProcessed(_ event: OrderEvent, delivery: AMQPDelivery) -> Bool {
        delivery.exchange != Exchanges.deadLetter
    }
}
