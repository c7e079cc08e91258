import Foundation
import Logging
@testable import OrderService
import PostgresNIO
import ServiceRuntime
import Testing

/// `OrderStore`'s projection steps against the real database: whether a status may move is
/// decided in the statement that moves it.
@Suite("Order status projection in PostgreSQL", .serialized)
struct StatusProjectionTests {
    /// An order store on a fresh schema of its own, with one accepted order.
    static func withOrder(_ body: @Sendable (OrderStore, PostgresClient, UUID) async throws -> Void) async throws {
        try await withFreshSchema("projection_test", migrating: OrderStore.schema) { database, logger in
            let store = OrderStore(database: database, outbox: OutboxDispatch(), logger: logger)
            let request = try OrderRequest(json: Data(#"{"user_id": "u-1", "item": "Taco", "quantity": 1}"#.utf8))
            guard case .accepted(let order) = try await store.place(request, idempotencyKey: nil) else {
                Issue.record("the order was not accepted")
                return
            }
            try await body(store, database, order.orderID)
        }
    }

    static func advance(_ store: OrderStore, _ database: PostgresClient, _ orderID: UUID, to status: OrderStatus, reason: String? = nil) async throws {
        try await apply([change(orderID, .status(status, reason: reason))], store, database)
    }

    static func change(_ orderID: UUID, _ kind: OrderStore.Change.Kind) -> OrderStore.Change {
        OrderStore.Change(orderID: orderID, kind: kind, detail: "test", at: Date(), logger: Logger(label: "projection-test"))
    }

    /// The time from placement to notification of each order the changes made notified.
    @discardableResult
    static func apply(_ changes: [OrderStore.Change], _ store: OrderStore, _ database: PostgresClient) async throws -> [TimeInterval] {
        try await database.withTransaction(logger: store.logger) { transaction in
            try await store.apply(changes, on: transaction, logger: store.logger)
        }
    }

    /// The order's `notified_at` is set, and how many `notified` steps its history has.
    static func notified(_ database: PostgresClient, _ orderID: UUID) async throws -> (Bool, Int) {
        for try await row in try await database.query("""
            select notified_at is not null, (select count(*) from order_history where order_id = \(orderID) and status = 'notified')
            from orders where order_id = \(orderID)
            """).decode((Bool, Int).self) {
            return row
        }
        return (false, 0)
    }

    /// The order's status and reason, and the statuses of its history steps in order.
    static func state(_ database: PostgresClient, _ orderID: UUID) async throws -> (String, String?, [String]) {
        var current: (String, String?) = ("", nil)
        for try await row in try await database.query("select status, reason from orders where order_id = \(orderID)").decode((String, String?).self) {
            current = row
        }
        var steps: [String] = []
        for try await step in try await database.query("select status from order_history where order_id = \(orderID) order by id").decode(String.self) {
            steps.append(step)
        }
        return (current.0, current.1, steps)
    }

    @Test("statuses move only forward; a dead-lettered order moves to another dead-lettered state only when it says something new")
    func forwardOnly() async throws {
        try await Self.withOrder { store, database, id in
            try await Self.advance(store, database, id, to: .failed, reason: "retries_exhausted")
            try await Self.advance(store, database, id, to: .failed, reason: "retries_exhausted")  // the same again: nothing new
            #expect(try await Self.state(database, id) == ("failed", "retries_exhausted", ["accepted", "failed"]))

            try await Self.advance(store, database, id, to: .expired, reason: "expired")  // dead-lettered again, for another reason
            try await Self.advance(store, database, id, to: .accepted)  // backwards
            #expect(try await Self.state(database, id) == ("expired", "expired", ["accepted", "failed", "expired"]))

            try await Self.advance(store, database, id, to: .reserved)
            try await Self.advance(store, database, id, to: .rejected, reason: "insufficient_stock")  // reserved is final
            try await Self.advance(store, database, id, to: .failed, reason: "poison")
            #expect(try await Self.state(database, id) == ("reserved", nil, ["accepted", "failed", "expired", "reserved"]))
        }
    }

    @Test("a status event for an unknown order changes nothing and fails nothing")
    func unknownOrder() async throws {
        try await Self.withOrder { store, database, id in
            try await Self.advance(store, database, UUID(), to: .reserved)
            #expect(try await Self.state(database, id) == ("accepted", nil, ["accepted"]))
        }
    }

    @Test("the changes of one transaction apply in their order, with a fixed number of statements: an order named twice moves twice, a repeated notification counts once (and completes the order once), an unknown order is skipped")
    func changesOfOneTransaction() async throws {
        try await Self.withOrder { store, database, id in
            let request = try OrderRequest(json: Data(#"{"user_id": "u-2", "item": "Taco", "quantity": 1}"#.utf8))
            guard case .accepted(let other) = try await store.place(request, idempotencyKey: nil) else {
                Issue.record("the second order was not accepted")
                return
            }
            let completions = try await Self.apply([
                Self.change(id, .status(.failed, reason: "retries_exhausted")),
                Self.change(other.orderID, .status(.rejected, reason: "insufficient_stock")),
                Self.change(id, .notified),
                Self.change(UUID(), .status(.reserved, reason: nil)),
                Self.change(id, .status(.reserved, reason: nil)),
                Self.change(id, .notified),
                Self.change(id, .status(.accepted, reason: nil)),
            ], store, database)
            #expect(try await Self.state(database, id) == ("reserved", nil, ["accepted", "failed", "reserved", "notified"]))
            #expect(try await Self.notified(database, id) == (true, 1))
            #expect(completions.count == 1 && completions.allSatisfy { $0 >= 0 && $0 < 60 }, "one completion, the order's: \(completions)")
            #expect(try await Self.state(database, other.orderID) == ("rejected", "insufficient_stock", ["accepted", "rejected"]))
            #expect(try await Self.notified(database, other.orderID) == (false, 0))
        }
    }
}
