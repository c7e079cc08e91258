import AMQPClient
import Logging
import OrderEvents
import PostgresNIO
import ServiceRuntime

/// Projects each order's status from the events on `order-status`, idempotently (through
/// the consumer's processed events) and monotonically (through `OrderStatus`).
struct StatusProjection: EventHandler {
    let store: OrderStore

    func handle(_ event: OrderEvent, delivery: AMQPDelivery, transaction: PostgresConnection, logger: Logger) async throws {
        let orderID = event.metadata.orderID
        let time = event.metadata.timestamp
        switch event {
        case .inventoryReserved(let reserved):
            try await store.advance(orderID, to: .reserved, reason: nil, detail: "\(reserved.payload.quantity) × \(reserved.payload.item) reserved", at: time, on: transaction, logger: logger)
        case .inventoryFailed(let failed):
            let reason = failed.payload.reason.rawValue
            try await store.advance(orderID, to: .rejected, reason: reason, detail: reason, at: time, on: transaction, logger: logger)
        case .notificationSent(let sent):
            try await store.markNotified(orderID, at: time, detail: "\(sent.payload.outcome.rawValue) via \(sent.payload.channel)", on: transaction, logger: logger)
        case .orderPlaced where delivery.exchange == Exchanges.deadLetter:
            let (status, reason) = Self.deadLetterOutcome(delivery.headers)
            try await store.advance(orderID, to: status, reason: reason, detail: "OrderPlaced dead-lettered: \(reason)", at: time, on: transaction, logger: logger)
        case .orderPlaced:
            throw UnprocessableEvent("order-status receives OrderPlaced only when it was dead-lettered")
        }
    }

    /// `expired` when the broker expired the message, otherwise `failed` with the consumer's
    /// `x-error` or the broker's dead-letter reason.
    static func deadLetterOutcome(_ headers: AMQPTable) -> (OrderStatus, String) {
        let death = headers["x-death"]?.arrayValue?.first?.tableValue
        let brokerReason = death?["reason"]?.stringValue
        if brokerReason == "expired" { return (.expired, "expired") }
        if let error = headers["x-error"]?.stringValue { return (.failed, error) }
        if brokerReason == "delivery_limit" { return (.failed, "delivery limit reached") }
        return (.failed, brokerReason ?? "dead-lettered")
    }
}
