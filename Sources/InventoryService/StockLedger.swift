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

    /// Decides one order within the caller's transaction, with one statement: holds its stock
    /// if enough is available, never going below zero, whatever other replicas do at the same
    /// time (the conditional update locks the item's row), and records the reservation with
    /// its outcome, unless the order has one already.
    static func decide(_ placed: Event<OrderPlaced>, on connection: PostgresConnection, logger: Logger) async throws -> Decision {
        let (orderID, line) = (placed.metadata.orderID, placed.payload)
        let rows = try await connection.query("""
            with taken as (
                update stock set available = available - \(line.quantity), reserved = reserved + \(line.quantity)
                where item = \(line.item) and available >= \(line.quantity)
                    and not exists (select 1 from reservations where order_id = \(orderID))
                returning item
            ), decided as (
                insert into reservations (order_id, event_id, item, quantity, outcome, reason)
                select \(orderID), \(placed.metadata.eventID), \(line.item), \(line.quantity),
                    case when exists (select 1 from taken) then 'reserved' else 'failed' end,
                    case
                        when exists (select 1 from taken) then null
                        when exists (select 1 from stock where item = \(line.item)) then \(InventoryFailureReason.insufficientStock.rawValue)
                        else \(InventoryFailureReason.unknownItem.rawValue)
                    end
                on conflict (order_id) do nothing
                returning reason
            )
            select exists (select 1 from decided), (select reason from decided), exists (select 1 from taken)
            """, logger: logger)
        for try await (recorded, reason, took) in rows.decode((Bool, String?, Bool).self) {
            if recorded { return reason.flatMap(InventoryFailureReason.init(rawValue:)).map(Decision.failed) ?? .reserved }
            if took { throw DecidedConcurrently(orderID: orderID) }
            return .alreadyDecided
        }
        preconditionFailure("a select without from returns one row")
    }

    /// A concurrent transaction recorded this order's reservation while this one took its
    /// stock: this one must roll back, and is retried like any transient failure, after which
    /// it finds the order decided.
    struct DecidedConcurrently: Error, CustomStringConvertible {
        let orderID: UUID
        var description: String { "order \(orderID) was decided by a concurrent transaction" }
    }

    /// Locks the stock rows of `items` for the caller's transaction, in item order, so that
    /// transactions taking several of them cannot deadlock.
    static func lock(items: Set<String>, on connection: PostgresConnection, logger: Logger) async throws {
        guard items.count > 1 else { return }  // one row: nothing to order
        try await connection.query("select item from stock where item = any(\(items.sorted())) order by item for update", logger: logger)
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
