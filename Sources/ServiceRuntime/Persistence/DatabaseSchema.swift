import AMQPClient
import Foundation
public import Logging
public import PostgresNIO

/// One versioned change to a service's schema: statements run in order, in one transaction.
public struct Migration: Sendable {
    public let version: Int
    public let statements: [String]

    public init(version: Int, _ statements: [String]) {
        self.version = version
        self.statements = statements
    }
}

/// A service's schema: its name, the migrations that build it, and what to seed afterwards.
public struct DatabaseSchema: Sendable {
    public typealias Seed = @Sendable (PostgresConnection, Logger) async throws -> Void

    public let name: String
    public let migrations: [Migration]
    let seed: Seed?

    /// The service's own migrations come after the runtime's tables (outbox and processed
    /// events), numbered on from them. The runtime's later changes are numbered from 1001, so
    /// that neither numbering ever moves the other. `seed` runs after them, under the same lock.
    public init(name: String, migrations: [[String]], seed: Seed? = nil) {
        self.name = name
        let first = [Outbox.tableStatements + ProcessedEvents.tableStatements] + migrations
        let later = Outbox.laterMigrations
        self.migrations = first.enumerated().map { Migration(version: $0.offset + 1, $0.element) }
            + later.enumerated().map { Migration(version: $0.offset + 1001, $0.element) }
        self.seed = seed
    }

    /// Applies the missing migrations. An advisory lock on the schema's name serialises
    /// replicas that start together; the first applies, the others find nothing to do.
    public func migrate(_ client: PostgresClient, logger: Logger) async throws {
        let (name, migrations, seed) = (self.name, self.migrations, self.seed)
        try await client.withTransactionOnItsLoop(logger: logger) { connection in
            try await connection.query("select pg_advisory_xact_lock(hashtext(\(name)))", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "create schema if not exists \(name)"), logger: logger)
            try await connection.query("create table if not exists schema_migrations (version int primary key, applied_at timestamptz not null default now())", logger: logger)
            var applied = Set<Int>()
            for try await version in try await connection.query("select version from schema_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("insert into schema_migrations (version) values (\(migration.version))", logger: logger)
                logger.info("applied migration", metadata: ["schema": "\(name)", "version": "\(migration.version)"])
            }
            try await seed?(connection, logger)
        }
    }
}
