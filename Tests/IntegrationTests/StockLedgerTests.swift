import Foundation
@testable import InventoryService
import Logging
import OrderEvents
import PostgresNIO
import ServiceRuntime
import TestSupport
import Testing

/// `StockLedger.decide` against the real database: two statements decide a whole batch of
/// orders, take their stock and record each order's single reservation.
@Suite("Stock decisions in PostgreSQL", .serialized)
struct StockLedgerTests {
    static func withLedger(stock: String, _ body: (PostgresClient, Logger) async throws -> Void) async throws {
        let initial = try InitialStock(environment: EnvironmentVariables(["INVENTORY_INITIAL_STOCK": stock]))
        try await withFreshSchema("stock_test", migrating: StockLedger.schema(seeding: initial), body)
    }

    static func placed(_ item: String, quantity: Int, orderID: UUID = UUID()) -> Event<OrderPlaced> {
        Event(metadata: EventMetadata(orderID: orderID, causationID: UUID()), payload: OrderPlaced(userID: "u-1", item: item, quantity: quantity))
    }

    static func decide(_ placed: Event<OrderPlaced>, _ database: PostgresClient, _ logger: Logger) async throws -> StockLedger.Decision {
        try await decide([placed], database, logger)[0]
    }

    static func decide(_ batch: [Event<OrderPlaced>], _ database: PostgresClient, _ logger: Logger) async throws -> [StockLedger.Decision] {
        try await database.withTransaction(logger: logger) { try await StockLedger.decide(batch, on: $0, logger: logger) }
    }

    /// `[available, reserved]` of `item`, and how many reservations `orderID` has.
    static func state(_ item: String, _ orderID: UUID, _ database: PostgresClient) async throws -> ([Int], Int) {
        var stock: [Int] = []
        for try await (available, reserved) in try await database.query("select available, reserved from stock where item = \(item)").decode((Int, Int).self) {
            stock = [available, reserved]
        }
        var reservations = 0
        for try await count in try await database.query("select count(*) from reservations where order_id = \(orderID)").decode(Int.self) {
            reservations = count
        }
        return (stock, reservations)
    }

    @Test("an order is reserved once; what is short or unknown fails; stock never goes below zero")
    func decisions() async throws {
        try await Self.withLedger(stock: "Taco=3") { database, logger in
            let first = Self.placed("Taco", quantity: 2)
            let decisions = [
                try await Self.decide(first, database, logger),
                try await Self.decide(Self.placed("Taco", quantity: 2, orderID: first.metadata.orderID), database, logger),
                try await Self.decide(Self.placed("Taco", quantity: 2), database, logger),
                try await Self.decide(Self.placed("Kale", quantity: 1), database, logger),
            ]
            #expect(decisions == [.reserved, .alreadyDecided, .failed(.insufficientStock), .failed(.unknownItem)])
            #expect(try await Self.state("Taco", first.metadata.orderID, database) == ([1, 2], 1))
        }
    }

    @Test("two transactions deciding the same order at once: the one that waited takes no stock, and finds the order decided when retried")
    func concurrentDecision() async throws {
        try await Self.withLedger(stock: "Taco=5") { database, logger in
            let orderID = UUID()
            let (first, second) = (Self.placed("Taco", quantity: 2, orderID: orderID), Self.placed("Taco", quantity: 2, orderID: orderID))
            let (commit, commitNow) = AsyncStream<Void>.makeStream()
            let (decided, firstDecided) = AsyncStream<StockLedger.Decision>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await database.withTransaction(logger: logger) { transaction in
                        firstDecided.yield(try await StockLedger.decide([first], on: transaction, logger: logger)[0])
                        for await _ in commit { break }
                    }
                }
                var firstDecision: StockLedger.Decision?
                for await decision in decided { firstDecision = decision; break }
                #expect(firstDecision == .reserved)

                let waiting = Task { try await Self.decide(second, database, logger) }
                try await eventually(.seconds(10), "the second decision to wait for the first transaction's lock") {
                    let rows = try await database.query("select count(*) from pg_stat_activity where application_name = 'stock_test' and wait_event_type = 'Lock'")
                    for try await count in rows.decode(Int.self) { return count == 1 }
                    return false
                }
                commitNow.yield()
                try await group.waitForAll()
                await #expect { try await waiting.value } throws: { ($0 as? PostgresTransactionError)?.closureError is StockLedger.DecidedConcurrently }
            }
            #expect(try await Self.state("Taco", orderID, database) == ([3, 2], 1))
            let retried = try await Self.decide(second, database, logger)
            #expect(retried == .alreadyDecided)
            #expect(try await Self.state("Taco", orderID, database) == ([3, 2], 1))
        }
    }

    @Test("a batch is decided in its order: a later, smaller order may take what an earlier one could not; an order named twice is decided once")
    func batchInOrder() async throws {
        try await Self.withLedger(stock: "Taco=3,Sushi=1") { database, logger in
            let first = Self.placed("Taco", quantity: 2)
            let decisions = try await Self.decide([
                first,
                Self.placed("Taco", quantity: 2),
                Self.placed("Sushi", quantity: 1),
                Self.placed("Taco", quantity: 1),
                Self.placed("Kale", quantity: 1),
                Self.placed("Taco", quantity: 1, orderID: first.metadata.orderID),
            ], database, logger)
            #expect(decisions == [.reserved, .failed(.insufficientStock), .reserved, .reserved, .failed(.unknownItem), .alreadyDecided])
            #expect(try await Self.state("Taco", first.metadata.orderID, database) == ([0, 3], 1))
            #expect(try await Self.state("Sushi", UUID(), database) == ([0, 1], 0))
            var reservations = 0
            for try await count in try await database.query("select count(*) from reservations").decode(Int.self) { reservations = count }
            #expect(reservations == 5)
        }
    }
}
