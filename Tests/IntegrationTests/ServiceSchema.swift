import Logging
import PostgresNIO
import ServiceRuntime

/// Runs `body` with a client of the test database whose search path is a fresh schema named
/// `name`, where `schema`'s tables are migrated (a service's own schema stays untouched).
func withFreshSchema(_ name: String, migrating schema: DatabaseSchema, _ body: (PostgresClient, Logger) async throws -> Void) async throws {
    let environment = EnvironmentVariables(["DATABASE_URL": "postgres://orders:orders@127.0.0.1:5432/orders_test"])
    let logger = Logger(label: name)
    let database = try DatabaseSettings(environment: environment).client(schema: name, logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await database.run() }
        defer { group.cancelAll() }
        try await database.query(PostgresQuery(unsafeSQL: "drop schema if exists \(name) cascade"))
        try await database.query(PostgresQuery(unsafeSQL: "create schema \(name)"))
        try await schema.migrate(database, logger: logger)
        try await body(database, logger)
    }
}
