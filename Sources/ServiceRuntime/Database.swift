import AMQPClient
import Foundation
public import Logging
public import PostgresNIO

/// Where the database is: `DATABASE_URL`, `postgres://user:password@host:port/database`.
public struct DatabaseSettings: Sendable {
    public static let defaultURL = "postgres://orders:orders@127.0.0.1:5432/orders"

    public let host: String
    public let port: Int
    public let user: String
    public let password: String
    public let database: String

    public init(environment: EnvironmentVariables) throws(ConfigurationError) {
        let url = environment.string("DATABASE_URL", default: Self.defaultURL)
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty, components.path.count > 1
        else {
            throw ConfigurationError(variable: "DATABASE_URL", problem: "'\(url)' is not postgres://user:password@host:port/database")
        }
        self.host = host
        port = components.port ?? 5432
        user = components.user ?? "postgres"
        password = components.password ?? ""
        database = String(components.path.dropFirst())
    }

    /// A client whose connections use `schema` as their search path, so the service's SQL
    /// names its own tables without qualification.
    public func client(schema: String, logger: Logger) -> PostgresClient {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        configuration.options.additionalStartupParameters = [("search_path", schema), ("application_name", schema)]
        configuration.options.maximumConnections = 16
        configuration.options.connectTimeout = .seconds(3)
        return PostgresClient(configuration: configuration, backgroundLogger: logger)
    }
}

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
        try await client.withTransaction(logger: logger) { connection in
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

extension PostgresClient {
    /// Whether the database answers within `timeout`.
    public func isReachable(timeout: Duration = .seconds(2)) async -> Bool {
        (try? await withTimeout(timeout) { try await self.query("select 1") }) != nil
    }
}

extension PostgresRowSequence {
    /// Whether the statement returned at least one row (the rest are drained).
    public func hasRows() async throws -> Bool {
        var any = false
        for try await _ in self { any = true }
        return any
    }
}
