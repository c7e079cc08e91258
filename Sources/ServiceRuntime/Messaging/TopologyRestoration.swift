import AMQPClient
import Logging

extension ReconnectingConnection {
    /// After the broker refused a publish because what it goes to is gone: declares the
    /// topology again, so that the exchange comes back with its bindings (or the queue, bound),
    /// and the caller publishes again. An operator who deletes an exchange deletes its
    /// bindings with it and cancels no consumer, and nobody consumes a retry or dead-letter
    /// queue, so no consumer would notice; the publisher is the one that finds out.
    func restoreTopology(after error: AMQPError, logger: Logger) async {
        logger.warning("what this service publishes to is gone; declaring the topology again", metadata: ["error": "\(error)"])
        await declareTopologyAgain(logger: logger)
    }

    /// Declares every exchange, queue and binding again, for at most 10 s; logs a failure,
    /// which the caller outlives: it tries again at its next refusal.
    func declareTopologyAgain(logger: Logger) async {
        do {
            try await withTimeout(.seconds(10)) { try await self.redeclare() }
        } catch {
            logger.error("cannot declare the topology again; trying again at the next refusal", metadata: ["error": "\(error)"])
        }
    }

    /// Asks for a dead-letter queue, which `mandatory` cannot show gone where another queue is
    /// bound to its key (`order-status` takes `order-events-dlq`'s copies too); where it is
    /// gone, declares the topology again. True when it was gone. Throws what else the question met.
    func declareDeadLetterQueueIfGone(_ queue: String, limit: Duration, logger: Logger) async throws -> Bool {
        do {
            _ = try await withTimeout(limit) { try await self.connection().inspectQueue(queue) }
            return false
        } catch let error as AMQPError where error.isNotFound {
            await restoreTopology(after: error, logger: logger)
            return true
        }
    }
}
