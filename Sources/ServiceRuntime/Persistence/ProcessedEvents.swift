public import Foundation
public import Logging
public import PostgresNIO

/// The ids of the events a service has handled, written in the same transaction as the
/// handling, so a redelivered event is recognised and changes nothing.
public enum ProcessedEvents {
    static let tableStatements = [
        "create table processed_events (event_id uuid primary key, processed_at timestamptz not null default now())",
        "create index processed_events_processed_at on processed_events (processed_at)",
    ]

    /// Records `eventIDs`; returns those recorded now, leaving out the ones recorded before
    /// (duplicates). Rows are taken in id order, so two transactions recording the same ids
    /// cannot deadlock.
    public static func record(_ eventIDs: Set<UUID>, on connection: PostgresConnection, logger: Logger) async throws -> Set<UUID> {
        guard !eventIDs.isEmpty else { return [] }
        var recorded = Set<UUID>()
        for try await eventID in try await connection.execute(Record(eventIDs: Array(eventIDs)), logger: logger) { recorded.insert(eventID) }
        return recorded
    }

    struct Record: PostgresPreparedStatement {
        static let sql = """
            insert into processed_events (event_id) select id from unnest($1::uuid[]) as event(id) order by id
            on conflict do nothing returning event_id
            """
        let eventIDs: [UUID]

        func makeBindings() -> PostgresBindings { .of(eventIDs) }

        func decodeRow(_ row: PostgresRow) throws -> UUID { try row.decode(UUID.self) }
    }
}
