import Foundation
import Logging
public import OrderEvents
import PostgresNIO
public import ServiceRuntime

/// The inventory-worker's data: stock per item and one reservation decision per order.
public enum StockLedger {
    public static func schema(seeding stock: InitialStock) -> DatabaseSchema {
        DatabaseSchema(name: "inventory", migrations: [[
            "create table stock (item text primary key, available int not null check (available >= 0), reserved int not null default 0 check (reserved >= 0))",
            """
            create table reservations (
                order_id uuid primary key, event_id uuid not null, item text not null, quantity int not null,
                outcome text not null, reason text, created_at timestamptz not null default now()
            )
            """,
        ]]) { connection, logger in
            try await seed(stock, on: connection, logger: logger)
        }
    }

    /// Seeds the stock, only into an empty table.
    static func seed(_ stock: InitialStock, on connection: PostgresConnection, logger: Logger) async throws {
        let items = stock.items.keys.sorted()
        let counts = items.map { stock.items[$0] ?? 0 }
        try await connection.query("""
            insert into stock (item, available)
            select * from unnest(\(items)::text[], \(counts)::int[]) where not exists (select 1 from stock)
            """, logger: logger)
    }

    public struct Item: Codable, Sendable, Hashable {
        public let item: String
        public let available: Int
        public let reserved: Int
    }

    public enum Decision: Sendable, Hashable {
        case reserved
        case failed(InventoryFailureReason)
        /// This order was decided before (by an earlier event for it).
        case alreadyDecided
    }

    /// Decides these orders within the caller's transaction, in this order, with two
    /// statements however many they are: the first locks their items' stock rows (in item
    /// order, so that transactions of other replicas cannot deadlock with this one) and reads
    /// which orders have a reservation already; the second records each new order's
    /// reservation with its outcome and takes the stock of those reserved. An order is
    /// reserved if enough of its item is left after the orders before it, so stock never goes
    /// below zero, whatever other replicas do at the same time.
    static func decide(_ orders: [Event<OrderPlaced>], on connection: PostgresConnection, logger: Logger) async throws -> [Decision] {
        let items = Set(orders.map(\.payload.item)).sorted()
        let orderIDs = orders.map(\.metadata.orderID)
        var available: [String: Int] = [:]
        var decided = Set<UUID>()
        for try await (item, count, orderID) in try await connection.execute(LockAndRead(items: items, orderIDs: orderIDs), logger: logger) {
            if let item, let count { available[item] = count }
            if let orderID { decided.insert(orderID) }
        }
        var decisions: [Decision] = []
        var new: [(event: Event<OrderPlaced>, decision: Decision)] = []
        for placed in orders {
            let (orderID, line) = (placed.metadata.orderID, placed.payload)
            let decision: Decision
            if decided.contains(orderID) {
                decision = .alreadyDecided
            } else if let left = available[line.item] {
                decision = left >= line.quantity ? .reserved : .failed(.insufficientStock)
                if decision == .reserved { available[line.item] = left - line.quantity }
            } else {
                decision = .failed(.unknownItem)
            }
            decisions.append(decision)
            if decision != .alreadyDecided {
                decided.insert(orderID)
                new.append((placed, decision))
            }
        }
        guard !new.isEmpty else { return decisions }
        for try await count in try await connection.execute(Record(decisions: new), logger: logger) where count < new.count {
            // A concurrent transaction recorded one of these orders after this one read them.
            throw DecidedConcurrently(orderIDs: new.map(\.event.metadata.orderID))
        }
        return decisions
    }

    struct LockAndRead: PostgresPreparedStatement {
        static let sql = """
            with locked as (select item, available from stock where item = any($1::text[]) order by item for update)
            select item, available, null::uuid from locked
            union all
            select null, null, order_id from reservations where order_id = any($2::uuid[])
            """
        let items: [String]
        let orderIDs: [UUID]

        func makeBindings() -> PostgresBindings { .of(items, orderIDs) }

        func decodeRow(_ row: PostgresRow) throws -> (String?, Int?, UUID?) { try row.decode((String?, Int?, UUID?).self) }
    }

    /// Records the reservations (an order recorded by a concurrent transaction meanwhile is
    /// left out) and takes the stock of those reserved; answers how many it recorded.
    struct Record: PostgresPreparedStatement {
        static let sql = """
            with decided as (
                insert into reservations (order_id, event_id, item, quantity, outcome, reason)
                select order_id, event_id, item, quantity, outcome, nullif(reason, '')
                from unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[])
                    as decision(order_id, event_id, item, quantity, outcome, reason)
                on conflict (order_id) do nothing
                returning item, quantity, outcome
            ), taken as (
                update stock set available = stock.available - taking.quantity, reserved = stock.reserved + taking.quantity
                from (select item, sum(quantity)::int as quantity from decided where outcome = 'reserved' group by item) as taking
                where stock.item = taking.item
            )
            select count(*) from decided
            """
        let decisions: [(event: Event<OrderPlaced>, decision: Decision)]

        func makeBindings() -> PostgresBindings {
            let reasons = decisions.map { entry -> String in
                if case .failed(let reason) = entry.decision { return reason.rawValue }
                return ""  // PostgresNIO binds no arrays of optionals
            }
            return .of(
                decisions.map(\.event.metadata.orderID), decisions.map(\.event.metadata.eventID),
                decisions.map(\.event.payload.item), decisions.map { Int32($0.event.payload.quantity) },
                decisions.map { $0.decision == .reserved ? "reserved" : "failed" }, reasons
            )
        }

        func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
    }

    /// A concurrent transaction recorded the reservation of one of these orders after this one
    /// read them: this one must roll back, and is retried like any transient failure, after
    /// which it finds the order decided.
    struct DecidedConcurrently: Error, CustomStringConvertible {
        let orderIDs: [UUID]
        var description: String { "one of the orders \(orderIDs.map(\.uuidString)) was decided by a concurrent transaction" }
    }

    static func items(_ database: PostgresClient) async throws -> [Item] {
        var items: [Item] = []
        for try await (item, available, reserved) in try await database.query("select item, available, reserved from stock order by item").decode((String, Int, Int).self) {
            items.append(Item(item: item, available: available, reserved: reserved))
        }
        return items
    }

    static func item(_ name: String, _ database: PostgresClient) async throws -> Item? {
        for try await (item, available, reserved) in try await database.query("select item, available, reserved from stock where item = \(name)").decode((String, Int, Int).self) {
            return Item(item: item, available: available, reserved: reserved)
        }
        return nil
    }
}
