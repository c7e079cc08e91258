import Foundation
import Logging
import OrderEvents
import PostgresNIO
import ServiceRuntime
import Synchronization

/// Placing an order: stored with its `OrderPlaced` outbox row, once per `Idempotency-Key`.
extension OrderStore {
    enum Placement {
        case accepted(Order)
        /// The same idempotency key with the same body: the first order, again.
        case replayed(Order)
        /// The same idempotency key with a different body.
        case conflict
    }

    private struct KeyTaken: Error {}

    /// Stores the order, its first history step and its `OrderPlaced` outbox row in one
    /// transaction: once this returns, the order is durable and its event will go out.
    ///
    /// Orders without a key share their transaction with the orders that arrive at the same
    /// moment (one commit for many). An order with a key has a transaction of its own, so that
    /// a key a concurrent request took first rolls back only this order.
    func place(_ request: OrderRequest, idempotencyKey: String?) async throws -> Placement {
        if let key = idempotencyKey, let earlier = try await order(forKey: key) {
            return earlier.matches(request) ? .replayed(earlier) : .conflict
        }
        let now = EventCoding.wholeMilliseconds(Date())
        // The event continues the trace of this request.
        let placed = Outbox.Entry(Event(
            metadata: EventMetadata(orderID: .random(), timestamp: now),
            payload: OrderPlaced(userID: request.userID, item: request.item, quantity: request.quantity)
        ))
        let orderID = placed.event.metadata.orderID
        if let key = idempotencyKey {
            let logger = self.logger
            do {
                try await Self.store(dispatchingTo: outbox) { [database] decision in
                    try await database.withTransactionOnItsLoop(logger: logger) { transaction in
                        let stored = try await Outbox.enqueue([placed], after: InsertOrders(orders: [placed.event]), on: transaction, logger: logger)
                        let claimed = try await transaction.query(
                            "insert into idempotency_keys (key, order_id) values (\(key), \(orderID)) on conflict do nothing returning key", logger: logger
                        )
                        guard try await claimed.hasRows() else { throw KeyTaken() }
                        // The last step before the commit: a store already abandoned rolls back instead.
                        guard decision.commit() else { throw TimeoutError() }
                        return stored
                    }
                }
            } catch let error as PostgresTransactionError where error.closureError is KeyTaken {
                // Another request with this key committed first.
                guard let earlier = try await order(forKey: key) else { throw KeyTaken() }
                return earlier.matches(request) ? .replayed(earlier) : .conflict
            }
        } else {
            try await placements.submit(placed)
        }
        return .accepted(Order(
            orderID: orderID, userID: request.userID, item: request.item, quantity: request.quantity, status: .accepted,
            reason: nil, createdAt: now, updatedAt: now, notifiedAt: nil, history: nil
        ))
    }

    /// Stores the orders without an idempotency key that arrive together with one statement:
    /// it adds the orders, their first history steps and their outbox rows, and commits by itself.
    static func placements(database: PostgresClient, outbox: OutboxDispatch, logger: Logger) -> Batcher<Outbox.Entry<OrderPlaced>, Void> {
        Batcher(maximumBatch: 500, maximumWriters: 4) { placed in
            try await Self.store(dispatchingTo: outbox) { decision in
                try await database.withConnectionOnItsLoop { connection in
                    // One statement, outside a transaction: sent, it commits by itself.
                    guard decision.commit() else { throw TimeoutError() }
                    return try await Outbox.enqueue(placed, after: InsertOrders(orders: placed.map(\.event)), on: connection, logger: logger)
                }
            }
            return placed.map { _ in () }
        }
    }

    /// Runs `write`, which stores and commits, so that an error means the order is not stored:
    /// `write` has `storeTimeout` (then it must not commit, and the API answers 503), but a
    /// commit, once sent, is waited for, however long it takes, and its outcome is the answer.
    /// A 503 for an order that was then stored would make a client that retries without an
    /// `Idempotency-Key` place it twice. So `write` asks `decision` just before it sends its
    /// commit (or the one statement that commits by itself), and gives up if that says no.
    /// After the commit, the outbox rows `write` returns go to the relay.
    private static func store(
        dispatchingTo outbox: OutboxDispatch,
        _ write: @escaping @Sendable (CommitDecision) async throws -> [Outbox.Stored]
    ) async throws {
        let decision = CommitDecision()
        let work = Task {
            outbox.committed(try await write(decision))
        }
        do {
            try await withTimeout(storeTimeout) { try await work.value }
        } catch is TimeoutError {
            if decision.abandon() {
                work.cancel()
                throw TimeoutError()
            }
            try await work.value  // the commit was sent before the limit: its outcome is the answer
        } catch {
            work.cancel()
            throw error
        }
    }

    /// The race between a store's commit and its time limit, decided once: either the commit
    /// is sent, or the store is abandoned and rolls back.
    private final class CommitDecision: Sendable {
        private enum State { case writing, committing, abandoned }
        private let state = Mutex(State.writing)

        /// True when the commit may be sent: the store was not abandoned.
        func commit() -> Bool { decide(.committing) }

        /// True when the store is abandoned: its commit was not sent yet, and will not be.
        func abandon() -> Bool { decide(.abandoned) }

        private func decide(_ outcome: State) -> Bool {
            state.withLock { state in
                guard state == .writing else { return state == outcome }
                state = outcome
                return true
            }
        }
    }

    /// The orders and their first history steps, written by the statement that adds their
    /// outbox rows.
    struct InsertOrders: OutboxCompanion {
        static let clauses = """
            placed as (
                insert into orders (order_id, user_id, item, quantity, status, created_at, updated_at)
                select id, user_id, item, quantity, 'accepted', at, at
                from unnest($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::timestamptz[]) as o(id, user_id, item, quantity, at)
                returning order_id, created_at
            ), history as (
                insert into order_history (order_id, status, at, detail) select order_id, 'accepted', created_at, 'order received' from placed
            )
            """
        static let parameterCount = 5
        let orders: [Event<OrderPlaced>]

        var values: [any PostgresDynamicTypeEncodable] {
            [orders.map(\.metadata.orderID), orders.map(\.payload.userID), orders.map(\.payload.item), orders.map(\.payload.quantity), orders.map(\.metadata.timestamp)]
        }
    }

    private func order(forKey key: String) async throws -> Order? {
        let rows = try await database.query("select order_id from idempotency_keys where key = \(key)", logger: logger)
        for try await orderID in rows.decode(UUID.self) { return try await order(orderID) }
        return nil
    }
}

extension Order {
    func matches(_ request: OrderRequest) -> Bool {
        userID == request.userID && item == request.item && quantity == request.quantity
    }
}
