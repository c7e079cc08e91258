public import Logging
public import PostgresNIO
public import ServiceLifecycle

/// Keeps the bookkeeping tables bounded: deletes processed-event ids, sent outbox rows and
/// whatever else a service names (the order-api's idempotency keys) once they are older than
/// `RETENTION`, a small batch per statement so no long lock is ever held.
public final class RetentionService: Service {
    /// A table whose rows go once the time in `age` is older than the retention.
    public struct Table: Sendable {
        let name: String
        let key: String
        let age: String

        public init(_ name: String, key: String, age: String) {
            self.name = name
            self.key = key
            self.age = age
        }

        var pruning: String {
            "delete from \(name) where \(key) in (select \(key) from \(name) where \(age) < now() - make_interval(secs => $1) limit $2) returning 1"
        }
    }

    /// The runtime's own tables, which every service has.
    static let runtimeTables = [Table("processed_events", key: "event_id", age: "processed_at")]

    private let database: PostgresClient
    private let tables: [Table]
    private let retention: Duration
    private let logger: Logger
    private let interval: Duration
    private let batchSize = 1000

    /// - Parameter alsoPruning: the service's own tables to prune besides the runtime's.
    public init(database: PostgresClient, retention: Duration, logger: Logger, interval: Duration = .seconds(600), alsoPruning tables: [Table] = []) {
        self.database = database
        self.tables = Self.runtimeTables + tables
        self.retention = retention
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let removed = try await prune()
                if removed > 0 { logger.info("pruned old bookkeeping rows", metadata: ["rows": "\(removed)"]) }
            } catch {
                logger.warning("retention pass failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }

    /// One pass over every table; returns how many rows went.
    public func prune() async throws -> Int {
        let seconds = Double(retention.components.seconds)
        var total = 0
        for statement in tables.map(\.pruning) {
            while true {
                var bindings = PostgresBindings()
                bindings.append(seconds)
                bindings.append(batchSize)
                let removed = try await deleted(PostgresQuery(unsafeSQL: statement, binds: bindings))
                total += removed
                if removed < batchSize { break }
            }
        }
        return total
    }

    private func deleted(_ query: PostgresQuery) async throws -> Int {
        try await database.withConnection { connection in
            var count = 0
            for try await _ in try await connection.query(query, logger: logger) { count += 1 }
            return count
        }
    }
}
