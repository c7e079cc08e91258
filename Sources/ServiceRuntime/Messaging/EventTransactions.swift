import AMQPClient
import Logging
import OrderEvents
import PostgresNIO
import Tracing

/// Handles events in database transactions, several in one: a transaction records its
/// events as processed, makes the handler's call-outs for the new ones at once, lets the
/// handler handle them all, and writes the events they emit to the outbox with one
/// statement. When a shared transaction fails, its events are handled again, each in a
/// transaction of its own, so that a failing event fails alone and the others do not wait
/// for it.
struct EventTransactions: Sendable {
    let handler: any EventHandler
    let database: PostgresClient
    /// Where the outbox rows of a committed transaction go.
    let outbox: OutboxDispatch
    let faults: FaultInjection
    /// How long a transaction may take before it is abandoned (and its events fail).
    let limit: Duration
    let logger: Logger

    /// Per event, in order: whether it had an effect (false for a duplicate), or why it failed.
    func handle(_ events: [PendingEvent]) async -> [Result<Bool, any Error>] {
        if events.count > 1 {
            do {
                return try await handleTogether(events).map { .success($0) }
            } catch {
                logger.debug("a shared transaction failed; handling its events one by one", metadata: ["events": "\(events.count)", "error": "\(error)"])
            }
        }
        return await withTaskGroup(of: (Int, Result<Bool, any Error>).self) { group in
            for (index, event) in events.enumerated() {
                group.addTask {
                    do {
                        // Bound first: Swift 6.3's optimizer miscompiles `.success(try await …[0])`
                        // returned in this tuple (release builds crashed on a bad index).
                        let applied = try await handleTogether([event])[0]
                        return (index, .success(applied))
                    } catch {
                        return (index, .failure(Self.cause(of: error)))
                    }
                }
            }
            var results = [Result<Bool, any Error>](repeating: .success(false), count: events.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
    }

    /// Handles `events` in one transaction; per event, whether it had an effect. A transaction
    /// that has not committed after `limit` (a pool that hands out no connection, a statement
    /// that never answers) is abandoned: it rolls back, or commits later, once, which the
    /// processed events make harmless when the events are handled again.
    private func handleTogether(_ events: [PendingEvent]) async throws -> [Bool] {
        let emitting = PendingOutbox()
        let (applies, emitted) = try await withTimeout(limit) { [self] in try await transact(events, outbox: emitting) }
        outbox.committed(emitted)
        emitting.committed()
        return applies
    }

    /// Per event, whether it had an effect; and the outbox rows of the events it emitted.
    private func transact(_ events: [PendingEvent], outbox: PendingOutbox) async throws -> ([Bool], [Outbox.Stored]) {
        try await database.withTransactionOnItsLoop(logger: logger) { transaction in
            for pending in events { try faults.inject(into: pending.event) }
            let recorded = events.map { handler.recordsProcessed($0.event, delivery: $0.delivery) }
            var new = try await ProcessedEvents.record(Set(zip(events, recorded).filter(\.1).map(\.0.event.metadata.eventID)), on: transaction, logger: logger)
            // An event is new once: a second copy of it in the same batch is a duplicate too.
            let applies = zip(events, recorded).map { pending, isRecorded in !isRecorded || new.remove(pending.event.metadata.eventID) != nil }
            let applying = zip(events, applies).filter(\.1).map(\.0)
            try await callOut(applying)
            if !applying.isEmpty { try await handler.handle(applying, transaction: transaction, outbox: outbox) }
            let emitted = outbox.take()
            return (applies, emitted.isEmpty ? [] : try await Outbox.insert(emitted, on: transaction, logger: logger))
        }
    }

    /// The handler's call-outs for `events`, all at once, each in its event's trace.
    private func callOut(_ events: [PendingEvent]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for pending in events {
                group.addTask {
                    try await ServiceContext.withValue(pending.context) {
                        try await handler.callOut(for: pending.event, delivery: pending.delivery, logger: pending.logger)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// What the handler threw (an `UnprocessableEvent`, say), rather than the transaction's
    /// wrapper around it.
    private static func cause(of error: any Error) -> any Error {
        (error as? PostgresTransactionError)?.closureError ?? error
    }
}
