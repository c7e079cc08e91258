import AMQPClient
import Foundation
import Logging
import Metrics
import OrderEvents
import PostgresNIO
import ServiceRuntime

/// Projects each order's status from the events on `order-status`, idempotently (through
/// the consumer's processed events) and monotonically (through `OrderStatus`).
struct StatusProjection: EventHandler {
    let store: OrderStore
    /// `order-status` takes `order-events-dlq`'s dead letters too: they must reach that queue.
    let deadLetters: DeadLetterCopies
    /// From an order's POST to its notification, counted once per order when the projection
    /// marks it notified: the pipeline's end-to-end latency, and its completions per second.
    let completion = Timer(label: "order_completion_seconds")

    func handle(_ events: [PendingEvent], transaction: PostgresConnection, outbox: PendingOutbox) async throws {
        try await deadLetters.keep(events.map(\.delivery), logger: events[0].logger)
        let changes = try events.compactMap(Self.change(for:))
        guard !changes.isEmpty else { return }
        let completions = try await store.apply(changes, on: transaction, logger: events[0].logger)
        guard !completions.isEmpty else { return }
        outbox.afterCommit { [completion] in
            for seconds in completions { completion.recordSeconds(seconds) }
        }
    }

    /// What `pending` asks of its order; nil for a dead letter that says nothing about one.
    static func change(for pending: PendingEvent) throws -> OrderStore.Change? {
        let (event, delivery, logger) = (pending.event, pending.delivery, pending.logger)
        let orderID = event.metadata.orderID
        let time = event.metadata.timestamp
        if delivery.exchange == Exchanges.deadLetter {
            // Of what is dead-lettered from `order-events`, only an OrderPlaced says anything
            // about an order; anything else there was misrouted, and its original waits in the DLQ.
            guard case .orderPlaced = event else { return nil }
            let deadLetter = FailureHeaders(delivery.headers).deadLetter
            let (status, reason) = Self.outcome(of: deadLetter)
            return OrderStore.Change(orderID: orderID, kind: .status(status, reason: reason), detail: "OrderPlaced dead-lettered: \(deadLetter.summary)", at: Date(), logger: logger)
        }
        switch event {
        case .inventoryReserved(let reserved):
            return OrderStore.Change(orderID: orderID, kind: .status(.reserved, reason: nil), detail: "\(reserved.payload.quantity) × \(reserved.payload.item) reserved", at: time, logger: logger)
        case .inventoryFailed(let failed):
            let reason = failed.payload.reason.rawValue
            return OrderStore.Change(orderID: orderID, kind: .status(.rejected, reason: reason), detail: reason, at: time, logger: logger)
        case .notificationSent(let sent):
            return OrderStore.Change(orderID: orderID, kind: .notified, detail: "\(sent.payload.outcome.rawValue) via \(sent.payload.channel)", at: time, logger: logger)
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
