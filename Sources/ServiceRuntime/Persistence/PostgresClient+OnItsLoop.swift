public import Logging
import NIOCore
public import PostgresNIO

/// Runs a task's jobs on one NIO event loop. A task that prefers the loop of the database
/// connection it uses resumes after each round trip on the thread that read the reply, instead
/// of waking a thread of Swift's pool for it and another event loop wake-up for the next
/// statement: on a virtual machine every such wake-up is an interrupt between processors.
final class EventLoopTaskExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

extension PostgresClient {
    /// Leases a connection and runs `body` with it on the connection's event loop (and so do the
    /// child tasks `body` starts). `body` must not block: it shares the loop with other connections.
    public func withConnectionOnItsLoop<Result: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withConnection { connection in
            try await withTaskExecutorPreference(EventLoopTaskExecutor(connection.eventLoop)) { try await body(connection) }
        }
    }

    /// `body` in a transaction (see `PostgresConnection.withTransaction`) on a leased connection,
    /// run on the connection's event loop.
    public func withTransactionOnItsLoop<Result: Sendable>(logger: Logger, _ body: @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withConnectionOnItsLoop { connection in
            try await connection.withTransaction(logger: logger) { try await body($0) }
        }
    }
}
