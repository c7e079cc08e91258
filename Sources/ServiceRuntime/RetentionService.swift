public import Logging
public import PostgresNIO
public import ServiceLifecycle

/// Keeps the bookkeeping tables bounded: deletes processed-event ids and sent outbox rows
/// older than `RETENTION`, a small batch per statement so no long lock is ever held.
public final class RetentionService: Service {
    private let database: PostgresClient
    private let retention: Duration
    private let logger: Logger
    private let interval: Duration
    private let batchSize = 1000

    public init(database: PostgresClient, retention: Duration, logger: Logger, interval: Duration = .seconds(600)) {
        self.database = database
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

    /// One pass over both tables; returns how many rows went.
    public func prune() async throws -> Int {
        let seconds = Double(retention.components.seconds)
        var total = 0
        for statement in [
            "delete from processed_events where event_id in (select event_id from processed_events where processed_at < now() - make_interval(secs => $1) limit $2) returning 1",
            "delete from outbox where id in (select id from outbox where sent_at < now() - make_interval(secs => $1) limit $2) returning 1",
        ] {
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
