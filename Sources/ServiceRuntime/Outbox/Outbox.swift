import Foundation
public import Logging
public import OrderEvents
public import PostgresNIO

/// Events a service emits are written here in the transaction that caused them, and
/// published afterwards by `OutboxRelay`, so a committed change always gets its event out
/// and a rolled-back one never does. A row is deleted once the broker confirmed its event.
public enum Outbox {
    static let tableStatements = [
        """
        create table outbox (
            id bigserial primary key,
            event_id uuid not null unique,
            event_type text not null,
            exchange text not null,
            routing_key text not null,
            body bytea not null,
            occurred_at timestamptz not null,
            created_at timestamptz not null default now(),
            sent_at timestamptz
        )
        """,
        "create index outbox_unsent on outbox (id) where sent_at is null",
        "create index outbox_sent_at on outbox (sent_at) where sent_at is not null",
    ]

    /// Changes to the runtime's tables after the first version, in order.
    static let laterMigrations = [
        ["alter table outbox add column traceparent text"],
        // Published rows are deleted, not marked: no index churns, nothing to prune.
        ["delete from outbox where sent_at is not null", "alter table outbox drop column sent_at"],
    ]

    /// How many rows wait to be published.
    public static func backlog(in database: PostgresClient, logger: Logger) async throws -> Int {
        let rows = try await database.query("select count(*) from outbox", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Runs `writes` and adds `entries`, in this order, with one statement: outside a
    /// transaction it commits by itself, with no `BEGIN` and `COMMIT` round trips around it.
    /// Once it has committed, the caller hands the rows to the relay (`OutboxDispatch.committed`).
    public static func enqueue<P: EventPayload, Writes: OutboxCompanion>(
        _ entries: [Entry<P>], after writes: Writes, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Stored] {
        let rows = entries.map(\.row)
        return try await stored(rows, from: connection.execute(InsertAfter(writes: writes, rows: rows), logger: logger))
    }

    /// Adds `rows`, in this order, with one statement; returns them with their ids.
    static func insert(_ rows: [Row], on connection: PostgresConnection, logger: Logger) async throws -> [Stored] {
        try await stored(rows, from: connection.execute(Insert(rows: rows), logger: logger))
    }

    private static func stored(_ rows: [Row], from inserted: AsyncThrowingMapSequence<PostgresRowSequence, (Int64, UUID)>) async throws -> [Stored] {
        var rowIDs: [UUID: Int64] = [:]
        for try await (rowID, eventID) in inserted { rowIDs[eventID] = rowID }
        return rows.compactMap { row in rowIDs[row.eventID].map { Stored(id: $0, row: row) } }
    }

    /// The insert of outbox rows, its seven parameters numbered from `first`.
    static func insertSQL(parametersFrom first: Int) -> String {
        let types = ["uuid", "text", "text", "text", "bytea", "timestamptz", "text"]
        let arrays = types.enumerated().map { "$\(first + $0.offset)::\($0.element)[]" }.joined(separator: ", ")
        return """
            insert into outbox (event_id, event_type, exchange, routing_key, body, occurred_at, traceparent)
            select id, type, exchange, routing_key, body, at, nullif(traceparent, '')
            from unnest(\(arrays))
                with ordinality as event(id, type, exchange, routing_key, body, at, traceparent, position)
            order by position
            returning id, event_id
            """
    }

    /// The values of `rows` for `insertSQL`. Empty for none: PostgresNIO binds no arrays of optionals.
    static func values(of rows: [Row]) -> [any PostgresDynamicTypeEncodable] {
        [
            rows.map(\.eventID), rows.map(\.type.rawValue), rows.map(\.type.exchange), rows.map(\.type.routingKey),
            rows.map(\.body), rows.map(\.occurredAt), rows.map { $0.traceparent ?? "" },
        ]
    }

    struct Insert: PostgresPreparedStatement {
        static let sql = insertSQL(parametersFrom: 1)
        let rows: [Row]

        func makeBindings() -> PostgresBindings { .of(values(of: rows)) }

        func decodeRow(_ row: PostgresRow) throws -> (Int64, UUID) { try row.decode((Int64, UUID).self) }
    }

    struct InsertAfter<Writes: OutboxCompanion>: PostgresPreparedStatement {
        static var sql: String { "with \(Writes.clauses)\n" + insertSQL(parametersFrom: Writes.parameterCount + 1) }
        let writes: Writes
        let rows: [Row]

        func makeBindings() -> PostgresBindings { .of(writes.values + values(of: rows)) }

        func decodeRow(_ row: PostgresRow) throws -> (Int64, UUID) { try row.decode((Int64, UUID).self) }
    }

    /// Deletes the rows whose events the broker confirmed.
    struct Delete: PostgresPreparedStatement {
        typealias Row = ()
        static let sql = "delete from outbox where id = any($1::bigint[])"
        let ids: [Int64]

        func makeBindings() -> PostgresBindings { .of(ids) }

        func decodeRow(_ row: PostgresRow) throws {}
    }

    /// An event on its way out, with the trace its publication continues.
    public struct Entry<P: EventPayload>: Sendable {
        public let event: Event<P>
        public let traceparent: String?

        /// `event`, continuing the trace of the caller's span (none when no trace is active).
        public init(_ event: Event<P>, traceparent: String? = TraceParent.current) {
            self.event = event
            self.traceparent = traceparent
        }

        var row: Row {
            Row(eventID: event.metadata.eventID, type: P.eventType, body: ByteBuffer(bytes: event.encoded()), occurredAt: event.metadata.timestamp, traceparent: traceparent)
        }
    }

    /// One outbox row, of any event type.
    struct Row: Sendable {
        let eventID: UUID
        let type: EventType
        let body: ByteBuffer
        let occurredAt: Date
        let traceparent: String?
    }

    /// A row as stored, with its id.
    public struct Stored: Sendable {
        let id: Int64
        let row: Row
    }
}
