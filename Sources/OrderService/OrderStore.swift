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

    /// Where the projection announces that orders changed; the payload is their ids,
    /// comma-separated.
    static let changesChannel = "order_changes"

    /// How long the statements that store an order may take before the API answers 503.
    static let storeTimeout: Duration = .seconds(5)

    let database: PostgresClient
    let outbox: OutboxDispatch
    let logger: Logger
    /// Orders without an idempotency key that arrive together are stored together.
    private let placements: Batcher<Outbox.Entry<OrderPlaced>, Void>

    init(database: PostgresClient, outbox: OutboxDispatch, logger: Logger) {
        self.database = database
        self.outbox = outbox
        self.logger = logger
        placements = Batcher(maximumBatch: 500, maximumWriters: 4) { placed in
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

    /// What one status event asks of its order.
    struct Change: Sendable {
        enum Kind: Sendable {
            /// To this status, if that is forward, or from one dead-lettered state to another
            /// that says something new.
            case status(OrderStatus, reason: String?)
            /// `notified_at` set, once.
            case notified
        }

        let orderID: UUID
        let kind: Kind
        /// The step's text in the order's history.
        let detail: String
        let at: Date
        /// The event's logger.
        let logger: Logger
    }

    /// Applies a transaction's changes, with a fixed number of statements however many they
    /// are: locks their orders in id order (so that concurrent transactions cannot deadlock),
    /// moves the statuses, sets `notified_at`, records a history step for each change that
    /// took effect, and announces the changed orders on `changesChannel`. Changes of one order
    /// apply in their order; one that changes nothing (late, repeated, or for an unknown
    /// order) is logged and ignored.
    /// Returns, for each order that this made notified, the time from its placement to its
    /// notification.
    func apply(_ changes: [Change], on transaction: PostgresConnection, logger: Logger) async throws -> [TimeInterval] {
        let orderIDs = Set(changes.map(\.orderID))
        if orderIDs.count > 1 {
            for try await _ in try await transaction.execute(Lock(orderIDs: Array(orderIDs)), logger: logger) {}
        }
        var changed = Set<UUID>()
        var ignored: [Change] = []
        // An order named twice moves twice, in turn: round n holds each order's n-th move.
        var rounds: [[Change]] = []
        var movesSoFar: [UUID: Int] = [:]
        for change in changes {
            guard case .status = change.kind else { continue }
            let n = movesSoFar[change.orderID, default: 0]
            movesSoFar[change.orderID] = n + 1
            if n == rounds.count { rounds.append([]) }
            rounds[n].append(change)
        }
        for round in rounds {
            let moved = try await move(round, on: transaction, logger: logger)
            changed.formUnion(moved)
            ignored += round.filter { !moved.contains($0.orderID) }
        }
        let notified = changes.filter { if case .notified = $0.kind { true } else { false } }
        var completions: [TimeInterval] = []
        if !notified.isEmpty {
            let marks = try await markNotified(notified, on: transaction, logger: logger)
            let marked = Set(marks.keys)
            completions = Array(marks.values)
            changed.formUnion(marked)
            var first = Set<UUID>()
            ignored += notified.filter { !marked.contains($0.orderID) || !first.insert($0.orderID).inserted }
        }
        if !ignored.isEmpty { try await logIgnored(ignored, on: transaction, logger: logger) }
        if !changed.isEmpty { try await announce(changed, on: transaction, logger: logger) }
        return completions
    }

    /// Moves each order (named once) to its status; returns the ids of those moved.
    private func move(_ moves: [Change], on transaction: PostgresConnection, logger: Logger) async throws -> Set<UUID> {
        var statuses: [String] = [], reasons: [String] = [], forwardFrom: [String] = [], deadLetteredFrom: [String] = []
        for change in moves {
            guard case .status(let status, let reason) = change.kind else { continue }
            statuses.append(status.rawValue)
            reasons.append(reason ?? "")  // PostgresNIO binds no arrays of optionals
            forwardFrom.append(OrderStatus.allCases.filter { $0.canMove(to: status) }.map(\.rawValue).joined(separator: ","))
            deadLetteredFrom.append(status.isDeadLettered ? OrderStatus.allCases.filter(\.isDeadLettered).map(\.rawValue).joined(separator: ",") : "")
        }
        let rows = try await transaction.execute(Move(
            orderIDs: moves.map(\.orderID), statuses: statuses, reasons: reasons, details: moves.map(\.detail), times: moves.map(\.at),
            forwardFrom: forwardFrom, deadLetteredFrom: deadLetteredFrom
        ), logger: logger)
        var moved = Set<UUID>()
        for try await orderID in rows { moved.insert(orderID) }
        return moved
    }

    /// Sets `notified_at` of each order that has none; returns, for each of those, the time
    /// from its placement to its notification.
    private func markNotified(_ marks: [Change], on transaction: PostgresConnection, logger: Logger) async throws -> [UUID: TimeInterval] {
        let rows = try await transaction.execute(MarkNotified(orderIDs: marks.map(\.orderID), times: marks.map(\.at), details: marks.map(\.detail)), logger: logger)
        var marked: [UUID: TimeInterval] = [:]
        for try await (orderID, created, notified) in rows {
            marked[orderID] = max(0, notified.timeIntervalSince(created))
        }
        return marked
    }

    /// Logs each change that took no effect, with the order's status (read with one statement).
    private func logIgnored(_ ignored: [Change], on transaction: PostgresConnection, logger: Logger) async throws {
        var current: [UUID: String] = [:]
        let rows = try await transaction.query("select order_id, status from orders where order_id = any(\(ignored.map(\.orderID)))", logger: logger)
        for try await (orderID, status) in rows.decode((UUID, String).self) { current[orderID] = status }
        for change in ignored {
            let event: String
            switch change.kind {
            case .status(let status, _): event = status.rawValue
            case .notified: event = "notified"
            }
            if let status = current[change.orderID] {
                change.logger.info("late or repeated status event; the order stays as it is", metadata: ["status": "\(status)", "event_status": "\(event)"])
            } else {
                change.logger.warning("status event for an unknown order; ignored", metadata: ["status": "\(event)"])
            }
        }
    }

    /// Announces the changed orders on `changesChannel`: their ids, comma-separated, in
    /// notifications of at most `idsPerNotification` (a payload holds under 8,000 bytes).
    private func announce(_ changed: Set<UUID>, on transaction: PostgresConnection, logger: Logger) async throws {
        let ids = changed.map { $0.uuidString.lowercased() }
        let payloads = stride(from: 0, to: ids.count, by: Self.idsPerNotification).map {
            ids[$0..<min($0 + Self.idsPerNotification, ids.count)].joined(separator: ",")
        }
        for try await _ in try await transaction.execute(Announce(payloads: payloads), logger: logger) {}
    }

    static let idsPerNotification = 200

    struct Lock: PostgresPreparedStatement {
        static let sql = "select order_id from orders where order_id = any($1::uuid[]) order by order_id for update"
        let orderIDs: [UUID]

        func makeBindings() -> PostgresBindings { .of(orderIDs) }

        func decodeRow(_ row: PostgresRow) throws -> UUID { try row.decode(UUID.self) }
    }

    struct Move: PostgresPreparedStatement {
        static let sql = """
            with move as (
                select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
                    as move(order_id, status, reason, detail, at, forward_from, dead_lettered_from)
            ), changed as (
                update orders set status = move.status, reason = nullif(move.reason, ''), updated_at = now()
                from move
                where orders.order_id = move.order_id and (
                    orders.status = any(string_to_array(move.forward_from, ',')) or (
                        orders.status = any(string_to_array(move.dead_lettered_from, ','))
                        and (orders.status, orders.reason) is distinct from (move.status, nullif(move.reason, ''))
                    )
                )
                returning orders.order_id, move.status, move.at, move.detail
            ), step as (
                insert into order_history (order_id, status, at, detail) select order_id, status, at, detail from changed
            )
            select order_id from changed
            """
        let orderIDs: [UUID], statuses: [String], reasons: [String], details: [String], times: [Date]
        /// Per move, the statuses it moves forward from, and (for a dead-lettered status) the
        /// dead-lettered ones it may replace, comma-separated.
        let forwardFrom: [String], deadLetteredFrom: [String]

        func makeBindings() -> PostgresBindings { .of(orderIDs, statuses, reasons, details, times, forwardFrom, deadLetteredFrom) }

        func decodeRow(_ row: PostgresRow) throws -> UUID { try row.decode(UUID.self) }
    }

    struct MarkNotified: PostgresPreparedStatement {
        static let sql = """
            with mark as (
                select distinct on (order_id) * from unnest($1::uuid[], $2::timestamptz[], $3::text[]) with ordinality as mark(order_id, at, detail, position)
                order by order_id, position
            ), changed as (
                update orders set notified_at = mark.at, updated_at = now()
                from mark
                where orders.order_id = mark.order_id and orders.notified_at is null
                returning orders.order_id, orders.created_at, mark.at, mark.detail
            ), step as (
                insert into order_history (order_id, status, at, detail) select order_id, 'notified', at, detail from changed
            )
            select order_id, created_at, at from changed
            """
        let orderIDs: [UUID], times: [Date], details: [String]

        func makeBindings() -> PostgresBindings { .of(orderIDs, times, details) }

        /// The order, when it was placed, when it was notified.
        func decodeRow(_ row: PostgresRow) throws -> (UUID, Date, Date) { try row.decode((UUID, Date, Date).self) }
    }

    /// One NOTIFY per payload; answers how many.
    struct Announce: PostgresPreparedStatement {
        static let sql = "select count(pg_notify('\(changesChannel)', payload)) from unnest($1::text[]) as payload"
        let payloads: [String]

        func makeBindings() -> PostgresBindings { .of(payloads) }

        func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
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
