import AMQPClient
import Logging
import OrderEvents

/// Where a consumer sends a delivery it failed on: to the queue's next retry queue, or to its
/// dead-letter queue, as a copy with what went wrong in its `FailureHeaders`, published
/// `mandatory` and confirmed before the delivery is acknowledged. A retry of a delivery that
/// failed `maxAttempts` times goes to the dead-letter queue instead, as `retries_exhausted`.
/// A copy that is not confirmed leaves the delivery requeued instead, so it is never lost.
struct FailureRouting: Sendable {
    enum Destination {
        case retry
        case deadLetter(DeadLetterReason)
    }

    /// The queue whose deliveries are routed.
    let queue: String
    let service: String
    let topology: Topology
    /// Where the copies are published.
    let publishing: ReconnectingConnection
    /// How long a copy may wait for its confirm before the delivery is handed back.
    let republishLimit: Duration
    /// How many attempts a delivery gets before a retry is a dead letter (`MAX_ATTEMPTS`).
    let maxAttempts: Int

    /// Sends `delivery` on and acks it; where it went once that is done, nil when it was requeued.
    func send(_ delivery: AMQPDelivery, to asked: Destination, error: String, logger: Logger) async -> Destination? {
        var headers = FailureHeaders(delivery.headers)
        let exhausted = if case .retry = asked { headers.failedAttempts + 1 >= maxAttempts } else { false }
        let destination = exhausted ? .deadLetter(.retriesExhausted) : asked
        let reason: DeadLetterReason? = if case .deadLetter(let reason) = destination { reason } else { nil }
        headers.recordFailure(error, by: service, deliveredFrom: delivery.exchange, routingKey: delivery.routingKey, deadLetteredAs: reason)
        var properties = delivery.properties
        properties.headers = headers.table
        // Neither a retry nor a dead letter keeps the TTL it was published with: the retry
        // queue's TTL decides when a retry comes back, and a dead letter never expires.
        properties.expiration = nil
        let (exchange, routingKey) = switch destination {
        case .retry: (Exchanges.retry, topology.retryQueue(of: queue, afterAttempt: headers.failedAttempts))
        case .deadLetter: (Exchanges.deadLetter, Queues.deadLetter(of: queue))
        }
        if case .deadLetter = destination {
            // Dead letters are rare: each first asks for its queue. Whatever else the question
            // meets, the publish that follows meets and reports.
            _ = try? await publishing.declareDeadLetterQueueIfGone(routingKey, limit: republishLimit, logger: logger)
        }
        do {
            let (body, properties) = (delivery.body, properties)
            try await withTimeout(republishLimit) { [publishing] in
                try await publishing.connection().publish(body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: true)
            }
            try delivery.ack()
        } catch let publishError {
            logger.warning("could not republish a failed message; requeueing it", metadata: ["error": "\(publishError)"])
            if let error = publishError as? AMQPError, error.isNotFound || error.isUnroutable {
                // Its retry or dead-letter queue, or the exchange before it, was deleted.
                await publishing.restoreTopology(after: error, logger: logger)
            }
            try? await Task.sleep(for: .seconds(1))
            try? delivery.nack(requeue: true)
            return nil
        }
        switch destination {
        case .retry:
            logger.warning("handling failed; retrying later", metadata: ["error": "\(error)", "attempt": "\(headers.failedAttempts)", "retry_queue": "\(routingKey)"])
        case .deadLetter(let reason):
            logger.error("dead-lettered a message", metadata: ["queue": "\(queue)", "reason": "\(reason.rawValue)", "error": "\(error)", "attempt": "\(headers.failedAttempts)"])
        }
        return destination
    }
}
