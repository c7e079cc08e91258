import Foundation
import Logging
import OrderEvents
import PostgresNIO
import ServiceRuntime

/// The `order-status` projection's writes: each order's status moved by the events about it.
extension OrderStore {
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
        let ids = changed.map { $0.lowercasedText }
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
