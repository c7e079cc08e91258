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

    /// Records `eventID`; false when it was recorded before (the event is a duplicate).
    public static func record(_ eventID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            "insert into processed_events (event_id) values (\(eventID)) on conflict do nothing returning event_id", logger: logger
        )
        for try await _ in rows { return true }
        return false
    }
}
