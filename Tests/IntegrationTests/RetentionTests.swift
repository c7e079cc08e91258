import Foundation
@testable import OrderService
import PostgresNIO
import ServiceRuntime
import Testing

/// `RetentionService` against the real database: what is older than `RETENTION` goes, in
/// the runtime's tables and in those a service names; what is younger stays.
@Suite("Retention in PostgreSQL", .serialized)
struct RetentionTests {
    @Test("processed events and a service's own tables (order-api's idempotency keys) are pruned once older than the retention; outbox rows never")
    func prunesOldRows() async throws {
        let schema = DatabaseSchema(name: "retention_test", migrations: [[
            "create table idempotency_keys (key text primary key, order_id uuid not null, created_at timestamptz not null default now())",
        ]])
        try await withFreshSchema(schema.name, migrating: schema) { database, logger in
            for age in ["2 hours", "1 minute"] {
                try await database.query(PostgresQuery(unsafeSQL: "insert into processed_events (event_id, processed_at) values (gen_random_uuid(), now() - interval '\(age)')"))
                try await database.query(PostgresQuery(unsafeSQL: "insert into idempotency_keys (key, order_id, created_at) values ('\(age)', gen_random_uuid(), now() - interval '\(age)')"))
            }
            // An outbox row waits to be published (a published one is deleted): never pruned, however old.
            try await database.query("insert into outbox (event_id, event_type, exchange, routing_key, body, occurred_at, created_at) values (gen_random_uuid(), 'OrderPlaced', 'orders', 'order.placed', '\\x7b7d', now(), now() - interval '3 hours')")

            let retention = RetentionService(database: database, retention: .seconds(3600), logger: logger, alsoPruning: [OrderStore.idempotencyKeys])
            #expect(try await retention.prune() == 2)
            for (table, expected) in [("processed_events", 1), ("outbox", 1), ("idempotency_keys", 1)] {
                let rows = try await database.query(PostgresQuery(unsafeSQL: "select count(*) from \(table)"))
                for try await count in rows.decode(Int.self) { #expect(count == expected, "\(table)") }
            }
            let kept = try await database.query("select key from idempotency_keys")
            for try await key in kept.decode(String.self) { #expect(key == "1 minute") }
        }
    }
}
