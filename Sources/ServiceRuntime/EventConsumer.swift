public import AMQPClient
import Foundation
public import Logging
import Metrics
public import OrderEvents
public import PostgresNIO
public import ServiceLifecycle

/// What a service does with one event, inside the transaction that also records the
/// event as processed.
public protocol EventHandler: Sendable {
    func handle(_ event: OrderEvent, delivery: AMQPDelivery, transaction: PostgresConnection, logger: Logger) async throws
}

/// Thrown by a handler for an event it can never process; the event is dead-lettered.
public struct UnprocessableEvent: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}

/// Consumes one queue with manual acks: decode → handle inside one transaction that also
/// records the event id → ack. A duplicate is acknowledged without effect. A message that
/// cannot be decoded, or that the handler declares unprocessable, is republished to the
/// queue's dead-letter queue with `x-error` and `x-failed-by`, then acknowledged. Any other
/// failure (the database is down, say) is retried with backoff while the message stays
/// unacknowledged, so nothing is lost if the process dies meanwhile.
///
/// On graceful shutdown it stops consuming, finishes and acks the work in flight, then ends.
public final class EventConsumer: Service {
    private let queue: String
    private let broker: ReconnectingConnection
    private let database: PostgresClient
    private let handler: any EventHandler
    private let service: String
    private let prefetch: Int
    private let concurrency: Int
    private let logger: Logger
    private let retryBackoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))

    /// What became of each delivery: `acked`, `duplicate`, `dead_lettered` or `retried`.
    private func count(_ outcome: String) {
        Counter(label: "consumer_deliveries_total", dimensions: [("queue", queue), ("outcome", outcome)]).increment()
    }

    public init(
        queue: String, broker: ReconnectingConnection, database: PostgresClient, handler: any EventHandler,
        service: String, prefetch: Int, concurrency: Int, logger: Logger
    ) {
        self.queue = queue
        self.broker = broker
        self.database = database
        self.handler = handler
        self.service = service
        self.prefetch = prefetch
        self.concurrency = concurrency
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let consumer: AMQPConsumer
            do {
                consumer = try await broker.connection().consume(queue: queue, prefetch: UInt16(clamping: prefetch))
            } catch let error as AMQPError where error.isConnectionLoss {
                if broker.isStopped { return }
                continue
            }
            logger.info("consuming", metadata: ["queue": "\(queue)"])
            do {
                try await withGracefulShutdownHandler {
                    try await process(consumer)
                } onGracefulShutdown: {
                    consumer.cancel()
                }
            } catch let error as AMQPError where error.isConnectionLoss {
                logger.warning("consumer lost its connection; resuming on the next", metadata: ["queue": "\(queue)"])
            }
        }
    }

    /// Handles deliveries with at most `concurrency` in flight, until the consumer ends.
    private func process(_ consumer: AMQPConsumer) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            defer { group.cancelAll() }
            for try await delivery in consumer {
                if running >= concurrency {
                    try await group.next()
                    running -= 1
                }
                group.addTask { await self.handle(delivery) }
                running += 1
            }
            try await group.waitForAll()
        }
    }

    private func handle(_ delivery: AMQPDelivery) async {
        let event: OrderEvent
        do {
            event = try OrderEvent(decoding: delivery.body)
        } catch {
            await deadLetter(delivery, error: "\(error)")
            return
        }
        var logger = self.logger
        logger[metadataKey: "order_id"] = "\(event.metadata.orderID.uuidString.lowercased())"
        logger[metadataKey: "event_id"] = "\(event.metadata.eventID.uuidString.lowercased())"
        var attempt = 0
        while true {
            do {
                let applied = try await database.withTransaction(logger: logger) { transaction in
                    guard try await ProcessedEvents.record(event.metadata.eventID, on: transaction, logger: logger) else { return false }
                    try await handler.handle(event, delivery: delivery, transaction: transaction, logger: logger)
                    return true
                }
                if !applied { logger.info("duplicate event acknowledged without effect", metadata: ["event_type": "\(event.eventType.rawValue)"]) }
                try? delivery.ack()
                count(applied ? "acked" : "duplicate")
                return
            } catch let error as UnprocessableEvent {
                await deadLetter(delivery, error: error.description, logger: logger)
                return
            } catch {
                if Task.isCancelled { return }  // left unacknowledged: the broker redelivers it
                let delay = retryBackoff.delay(forAttempt: attempt)
                attempt += 1
                count("retried")
                logger.warning("handling failed; retrying", metadata: ["error": "\(String(reflecting: error))", "attempt": "\(attempt)"])
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// Republishes the message to its dead-letter queue with the reason, then acks it. If the
    /// republish is not confirmed the message is requeued instead, so it is never lost.
    private func deadLetter(_ delivery: AMQPDelivery, error: String, logger: Logger? = nil) async {
        let logger = logger ?? self.logger
        var properties = delivery.properties
        var headers = delivery.headers
        headers["x-error"] = .string(error)
        headers["x-failed-by"] = .string(service)
        headers["x-original-exchange"] = .string(delivery.exchange)
        headers["x-original-routing-key"] = .string(delivery.routingKey)
        properties.headers = headers
        do {
            try await broker.connection().publish(
                delivery.body, exchange: Exchanges.deadLetter, routingKey: Queues.deadLetter(of: queue), properties: properties
            )
            try delivery.ack()
            count("dead_lettered")
            logger.error("dead-lettered a message", metadata: ["queue": "\(queue)", "error": "\(error)"])
        } catch let publishError {
            logger.warning("could not dead-letter a message; requeueing it", metadata: ["error": "\(publishError)"])
            try? await Task.sleep(for: .seconds(1))
            try? delivery.nack(requeue: true)
        }
    }
}
