public import AMQPClient
public import Logging
import OrderEvents

/// The broker dead-letters a message to every queue bound to its dead-letter queue's key, and
/// `order-status` is bound to `order-events-dlq`'s, so that order-api learns which orders were
/// dead-lettered. Where an operator has deleted the dead-letter queue, the broker counts such
/// a dead letter delivered all the same (`order-status` took it), and the dead-letter queue
/// never gets its copy: an order expired by `ORDER_TTL` would have none to replay. So the
/// consumer of a queue that shares a dead-letter queue's key, given dead letters, asks for
/// their queue, and where it is gone, declares the topology again and puts its copies there.
/// A queue deleted and declared again between the broker's dead-lettering and the question
/// still misses its copy; that takes two operators' actions within moments.
public struct DeadLetterCopies: Sendable {
    private let publishing: ReconnectingConnection
    private let limit: Duration

    public init(resources: ServiceResources) {
        publishing = resources.publishing
        limit = EventConsumer.republishLimit
    }

    /// Returns once every dead letter among `deliveries` (those that came through the
    /// dead-letter exchange) is in its dead-letter queue; throws when it cannot tell, or cannot
    /// put it there.
    public func keep(_ deliveries: [AMQPDelivery], logger: Logger) async throws {
        let deadLetters = deliveries.filter { $0.exchange == Exchanges.deadLetter }
        for (queue, letters) in Dictionary(grouping: deadLetters, by: \.routingKey) {
            guard try await publishing.declareDeadLetterQueueIfGone(queue, limit: limit, logger: logger) else { continue }
            // Through the default exchange, to the dead-letter queue alone: `order-status` has its copy.
            let copies = letters.map { OutgoingMessage(body: $0.body, exchange: "", routingKey: queue, properties: $0.properties, mandatory: true) }
            try await withTimeout(limit) { [publishing] in try await publishing.connection().publish(copies) }
            logger.warning("put the dead letters the broker routed while their queue was gone into it", metadata: ["queue": "\(queue)", "count": "\(copies.count)"])
        }
    }
}
