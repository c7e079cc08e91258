import Foundation
import Logging
import PostgresNIO
import ServiceRuntime

/// Reading orders: one with its history, a page of them, or a set of them for the board.
extension OrderStore {
    private static let columns = "order_id, user_id, item, quantity, status, reason, created_at, updated_at, notified_at"
    private typealias Row = (UUID, String, String, Int, String, String?, Date, Date, Date?)

    private static func order(from row: Row) -> Order {
        Order(
            orderID: row.0, userID: row.1, item: row.2, quantity: row.3, status: OrderStatus(rawValue: row.4) ?? .accepted,
            reason: row.5, createdAt: row.6, updatedAt: row.7, notifiedAt: row.8, history: nil
        )
    }

    /// The order with its history, or nil.
    func order(_ orderID: UUID) async throws -> Order? {
        let rows = try await database.query(PostgresQuery(unsafeSQL: "select \(Self.columns) from orders where order_id = $1", binds: binds(orderID)), logger: logger)
        var found: Order?
        for try await row in rows.decode(Row.self) { found = Self.order(from: row) }
        guard var order = found else { return nil }
        var history: [Order.Step] = []
        let steps = try await database.query("select status, at, detail from order_history where order_id = \(orderID) order by at, id", logger: logger)
        for try await (status, at, detail) in steps.decode((String, Date, String?).self) {
            history.append(Order.Step(status: status, at: at, detail: detail))
        }
        order.history = history
        return order
    }

    /// A page of orders, newest first, after `cursor`; also the cursor of the next page.
    func list(status: OrderStatus?, limit: Int, after cursor: Cursor?) async throws -> (orders: [Order], next: Cursor?) {
        var bindings = PostgresBindings()
        var conditions: [String] = []
        if let status {
            bindings.append(status.rawValue)
            conditions.append("status = $\(bindings.count)")
        }
        if let cursor {
            bindings.append(cursor.createdAt)
            bindings.append(cursor.orderID)
            conditions.append("(created_at, order_id) < ($\(bindings.count - 1), $\(bindings.count))")
        }
        bindings.append(limit + 1)
        let filter = conditions.isEmpty ? "" : "where " + conditions.joined(separator: " and ")
        let sql = "select \(Self.columns) from orders \(filter) order by created_at desc, order_id desc limit $\(bindings.count)"
        var orders: [Order] = []
        for try await row in try await database.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).decode(Row.self) {
            orders.append(Self.order(from: row))
        }
        guard orders.count > limit else { return (orders, nil) }
        orders.removeLast()
        return (orders, orders.last.map { Cursor(createdAt: $0.createdAt, orderID: $0.orderID) })
    }

    /// These orders, without history, newest first; unknown ids are left out.
    func orders(_ ids: [UUID]) async throws -> [Order] {
        let sql = "select \(Self.columns) from orders where order_id = any($1) order by created_at desc, order_id desc"
        var bindings = PostgresBindings()
        bindings.append(ids)
        var orders: [Order] = []
        for try await row in try await database.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).decode(Row.self) {
            orders.append(Self.order(from: row))
        }
        return orders
    }

    /// How many events wait in the order-api's outbox to be published.
    func outboxBacklog() async throws -> Int {
        try await Outbox.backlog(in: database, logger: logger)
    }

    private func binds(_ orderID: UUID) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(orderID)
        return bindings
    }
}
