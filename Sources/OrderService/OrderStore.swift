import Foundation
import Logging
import OrderEvents
import PostgresNIO
import ServiceRuntime
import Synchronization

/// The order-api's data: orders with their history, idempotency keys, and (through the
/// runtime) its outbox and processed events.
struct OrderStore: Sendable {
    static let schema = DatabaseSchema(name: "order_api", migrations: [[
        """
        create table orders (
            order_id uuid primary key, user_id text not null, item text not null, quantity int not null,
            status text not null, reason text, created_at timestamptz not null, updated_at timestamptz not null,
            notified_at timestamptz
        )
        """,
        "create index orders_newest on orders (created_at desc, order_id desc)",
        "create index orders_status_newest on orders (status, created_at desc, order_id desc)",
        """
        create table order_history (
            id bigserial primary key, order_id uuid not null references orders (order_id),
            status text not null, at timestamptz not null, detail text
        )
        """,
        "create index order_history_order on order_history (order_id, id)",
        """
        create table idempotency_keys (
            key text primary key, order_id uuid not null references orders (order_id),
            created_at timestamptz not null default now()
        )
        """,
    ]])

    /// A key is remembered for `RETENTION`: a repeat after that is a new order.
    static let idempotencyKeys = RetentionService.Table("idempotency_keys", key: "key", age: "created_at")

    /// Where the projection announces that an order changed; the payload is its id.
    static let changesChannel = "order_changes"

    /// How long the statements that store an order may take before the API answers 503.
    static let storeTimeout: Duration = .seconds(5)

    let database: PostgresClient
    let outboxWakeUp: OutboxWakeUp
    let logger: Logger
    /// Orders without an idempotency key that arrive together are stored together.
    private let placements: Batcher<Outbox.Entry<OrderPlaced>, Void>

    init(database: PostgresClient, outboxWakeUp: OutboxWakeUp, logger: Logger) {
        self.database = database
        self.outboxWakeUp = outboxWakeUp
        self.logger = logger
        placements = Batcher(maximumBatch: 500, maximumWriters: 4) { placed in
            try await Self.store(in: database, waking: outboxWakeUp, logger: logger) { transaction in
                try await Self.insert(placed, on: transaction, logger: logger)
            }
            return placed.map { _ in () }
        }
    }

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
            metadata: EventMetadata(orderID: UUID(), timestamp: now),
            payload: OrderPlaced(userID: request.userID, item: request.item, quantity: request.quantity)
        ))
        let orderID = placed.event.metadata.orderID
        if let key = idempotencyKey {
            let logger = self.logger
            do {
                try await Self.store(in: database, waking: outboxWakeUp, logger: logger) { transaction in
                    try await Self.insert([placed], on: transaction, logger: logger)
                    let claimed = try await transaction.query(
                        "insert into idempotency_keys (key, order_id) values (\(key), \(orderID)) on conflict do nothing returning key", logger: logger
                    )
                    guard try await claimed.hasRows() else { throw KeyTaken() }
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

    /// Runs `write` in a transaction and commits it, so that an error means the order is not
    /// stored: `write` has `storeTimeout` (then the transaction rolls back and the API answers
    /// 503), but a commit, once sent, is waited for, however long it takes, and its outcome
    /// is the answer. A 503 for an order that was then stored would make a client that retries
    /// without an `Idempotency-Key` place it twice. After the commit, the relay is woken.
    private static func store(in database: PostgresClient, waking outboxWakeUp: OutboxWakeUp, logger: Logger, _ write: @escaping @Sendable (PostgresConnection) async throws -> Void) async throws {
        let decision = CommitDecision()
        let work = Task {
            try await database.withTransaction(logger: logger) { transaction in
                try await write(transaction)
                // The last step before the commit: a store already abandoned rolls back instead.
                guard decision.commit() else { throw TimeoutError() }
            }
            outboxWakeUp.committed()
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

    /// The orders, their first history steps and their outbox rows, with two statements.
    private static func insert(_ placed: [Outbox.Entry<OrderPlaced>], on transaction: PostgresConnection, logger: Logger) async throws {
        let events = placed.map(\.event)
        let ids = events.map(\.metadata.orderID)
        let times = events.map(\.metadata.timestamp)
        let (users, items, quantities) = (events.map(\.payload.userID), events.map(\.payload.item), events.map(\.payload.quantity))
        try await transaction.query("""
            with placed as (
                insert into orders (order_id, user_id, item, quantity, status, created_at, updated_at)
                select id, user_id, item, quantity, 'accepted', at, at
                from unnest(\(ids)::uuid[], \(users)::text[], \(items)::text[], \(quantities)::int8[], \(times)::timestamptz[]) as o(id, user_id, item, quantity, at)
                returning order_id, created_at
            )
            insert into order_history (order_id, status, at, detail) select order_id, 'accepted', created_at, 'order received' from placed
            """, logger: logger)
        try await Outbox.enqueue(placed, on: transaction, logger: logger)
    }

    private func order(forKey key: String) async throws -> Order? {
        let rows = try await database.query("select order_id from idempotency_keys where key = \(key)", logger: logger)
        for try await orderID in rows.decode(UUID.self) { return try await order(orderID) }
        return nil
    }

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

    // MARK: Projection

    /// Moves the order to `status` if that is forward, or from one dead-lettered state to
    /// another that says something new; records the step and announces the change. The check
    /// and the change are one statement.
    func advance(_ orderID: UUID, to status: OrderStatus, reason: String?, detail: String, at time: Date, on transaction: PostgresConnection, logger: Logger) async throws {
        let forwardFrom = OrderStatus.allCases.filter { $0.canMove(to: status) }.map(\.rawValue)
        let deadLetteredFrom = status.isDeadLettered ? OrderStatus.allCases.filter(\.isDeadLettered).map(\.rawValue) : []
        let moved = try await change("""
            update orders set status = \(status.rawValue), reason = \(reason), updated_at = now()
            where order_id = \(orderID) and (status = any(\(forwardFrom)) or (
                status = any(\(deadLetteredFrom)) and (status, reason) is distinct from (\(status.rawValue)::text, \(reason)::text)
            ))
            returning order_id
            """, step: status.rawValue, detail: detail, at: time, on: transaction, logger: logger)
        guard !moved else { return }
        var current: String?
        for try await text in try await transaction.query("select status from orders where order_id = \(orderID)", logger: logger).decode(String.self) {
            current = text
        }
        if let current {
            logger.info("late or repeated status event; the order stays as it is", metadata: ["status": "\(current)", "event_status": "\(status.rawValue)"])
        } else {
            logger.warning("status event for an unknown order; ignored", metadata: ["status": "\(status.rawValue)"])
        }
    }

    /// Locks these orders' rows for the caller's transaction, in id order, so that
    /// transactions taking several of them cannot deadlock.
    func lock(_ orderIDs: Set<UUID>, on transaction: PostgresConnection, logger: Logger) async throws {
        guard orderIDs.count > 1 else { return }  // one row: nothing to order
        try await transaction.query("select 1 from orders where order_id = any(\(Array(orderIDs))) order by order_id for update", logger: logger)
    }

    /// Sets `notified_at` once; a repeated notification changes nothing.
    func markNotified(_ orderID: UUID, at time: Date, detail: String, on transaction: PostgresConnection, logger: Logger) async throws {
        try await change(
            "update orders set notified_at = \(time), updated_at = now() where order_id = \(orderID) and notified_at is null returning order_id",
            step: "notified", detail: detail, at: time, on: transaction, logger: logger
        )
    }

    /// Runs `update` (an `update orders … returning order_id`) and, for the order it changed,
    /// records the step and announces the change: one statement, one round trip. Returns
    /// whether it changed the order.
    @discardableResult
    private func change(_ update: PostgresQuery, step: String, detail: String, at time: Date, on transaction: PostgresConnection, logger: Logger) async throws -> Bool {
        var binds = update.binds
        let first = binds.count + 1
        binds.append(step)
        binds.append(time)
        binds.append(detail)
        binds.append(Self.changesChannel)
        let sql = """
            with changed as (\(update.sql)),
            step as (insert into order_history (order_id, status, at, detail) select order_id, $\(first), $\(first + 1), $\(first + 2) from changed)
            select pg_notify($\(first + 3), order_id::text) from changed
            """
        return try await transaction.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).hasRows()
    }
}

/// Where a page of `GET /orders` ends: the last order's creation time and id, as an opaque
/// string `<milliseconds>_<uuid>`.
struct Cursor: Sendable, Hashable {
    let createdAt: Date
    let orderID: UUID

    init(createdAt: Date, orderID: UUID) {
        self.createdAt = createdAt
        self.orderID = orderID
    }

    init?(_ text: String) {
        let parts = text.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, (1...15).contains(parts[0].count), parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
              let milliseconds = Int64(parts[0]), let orderID = UUID(uuidString: String(parts[1])) else { return nil }
        self.init(createdAt: Date(timeIntervalSince1970: Double(milliseconds) / 1000), orderID: orderID)
    }

    var text: String {
        "\(Int64((createdAt.timeIntervalSince1970 * 1000).rounded()))_\(orderID.uuidString.lowercased())"
    }
}

extension Order {
    func matches(_ request: OrderRequest) -> Bool {
        userID == request.userID && item == request.item && quantity == request.quantity
    }
}
