import AMQPClient
import Foundation
import Logging
import Metrics
import OrderEvents
public import ServiceLifecycle
import Tracing

/// Consumes one queue with manual acks: decode → handle inside a transaction that also
/// records the event id → ack. A duplicate is acknowledged without effect. The deliveries in
/// flight at the same moment share their transactions (`EventTransactions`), at most two at
/// once, so that a busy queue costs one commit per batch rather than per event.
///
/// Failures never block the queue:
/// - a message that cannot be decoded, or that the handler declares unprocessable, is
///   poison: it goes to the queue's dead-letter queue at once;
/// - any other failure (the database is down, say) sends it to a retry queue of the broker,
///   whose TTL brings it back after the next delay, with the attempts counted in
///   `x-attempts`; after `MAX_ATTEMPTS` it goes to the dead-letter queue instead;
/// - but while the database itself is unreachable or read-only, nothing is the message's
///   fault: the consumer pauses (`DatabaseAvailability`), its deliveries wait without losing
///   an attempt, and they are handled again once the database takes writes.
///
/// Nothing waits for ever: a transaction is abandoned after `transactionLimit` and a
/// republish after `republishLimit`, and a consumer that holds deliveries without settling
/// any for `stallLimit` makes the service unready.
///
/// Either way the message is republished (`FailureRouting`) and acknowledged only once
/// the broker confirmed the copy, so a crash in between duplicates it at worst, never loses
/// it. On graceful shutdown the consumer stops, finishes and acks the work in flight, then ends.
public final class EventConsumer: Service {
    private let queue: String
    private let transactions: Batcher<PendingEvent, Result<Bool, any Error>>
    private let broker: ReconnectingConnection
    /// Where deliveries that failed go.
    private let failures: FailureRouting
    private let settings: ServiceSettings
    private let logger: Logger
    private let database: DatabaseAvailability
    private let progress = ConsumerProgress()
    private let health: ServiceHealth
    /// How long handling a delivery took, its transaction included, whatever the outcome.
    private let handlerDuration: Timer

    static let transactionLimit: Duration = .seconds(30)
    static let republishLimit: Duration = .seconds(30)
    static let stallLimit: Duration = .seconds(90)

    /// What became of each delivery: `acked`, `duplicate`, `retried`, `dead_lettered`, or
    /// `ignored` (an undecodable copy of a dead letter). Made once: a metric looked up per
    /// delivery cost the busy consumer a few per cent of its time.
    private let outcomes: [String: Counter]

    private func count(_ outcome: String) {
        outcomes[outcome]?.increment()
    }

    public init(queue: String, handler: any EventHandler, resources: ServiceResources) {
        self.queue = queue
        let handling = EventTransactions(
            handler: handler, database: resources.database, outbox: resources.outboxDispatch, faults: resources.settings.faults,
            limit: Self.transactionLimit, logger: resources.logger
        )
        transactions = Batcher(maximumBatch: resources.settings.concurrency, maximumWriters: 2) { await handling.handle($0) }
        broker = resources.consuming
        failures = FailureRouting(
            queue: queue, service: resources.settings.service, topology: resources.settings.broker.topology,
            publishing: resources.publishing, republishLimit: Self.republishLimit, maxAttempts: resources.settings.broker.maxAttempts
        )
        settings = resources.settings
        logger = resources.logger
        health = resources.health
        database = DatabaseAvailability(database: resources.database, health: resources.health, part: "consumer:\(queue)", logger: resources.logger)
        handlerDuration = Timer(label: "consumer_handler_duration_seconds", dimensions: [("queue", queue)])
        outcomes = Dictionary(uniqueKeysWithValues: ["acked", "duplicate", "retried", "dead_lettered", "ignored"].map { outcome in
            (outcome, Counter(label: "consumer_deliveries_total", dimensions: [("queue", queue), ("outcome", outcome)]))
        })
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchForStalls() }
            defer { group.cancelAll() }
            try await consume()
        }
    }

    /// Makes the service unready while the consumer holds deliveries and has settled none for
    /// `stallLimit` (a pause for the database aside, which `/ready` reports on its own).
    private func watchForStalls() async {
        let part = "stalled:\(queue)"
        while (try? await Task.sleep(for: .seconds(5))) != nil {
            let stalled = progress.stalledFor(longerThan: Self.stallLimit)
            if let stalled, !database.isPaused {
                health.report(part, ServiceHealth.Condition("holds \(stalled.held) deliveries and has settled none for \(stalled.idle)", makesUnready: true))
            } else {
                health.report(part, nil)
            }
        }
    }

    private func consume() async throws {
        var mode = Mode.cautious
        var refusals = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let consumer: AMQPConsumer
            do {
                let prefetch = mode == .cautious ? 1 : UInt16(clamping: settings.prefetch)
                consumer = try await broker.connection().consume(queue: queue, prefetch: prefetch)
            } catch let error as AMQPError where error.isConnectionLoss {
                if broker.isStopped {
                    // The connection stopped for good and its own error ends the group: wait
                    // for that, rather than end first and hide it.
                    try? await gracefulShutdown()
                    return
                }
                mode = .cautious
                continue
            } catch {
                // The broker refused the consumer (its queue is gone, say).
                refusals += 1
                await recover(from: error, attempt: refusals)
                continue
            }
            logger.info("consuming", metadata: ["queue": "\(queue)", "mode": "\(mode)"])
            do {
                mode = try await withGracefulShutdownHandler {
                    try await mode == .cautious ? processCautiously(consumer) : process(consumer)
                } onGracefulShutdown: {
                    consumer.cancel()
                }
                refusals = 0
            } catch let error as AMQPError where error.isConnectionLoss {
                logger.warning("consumer lost its connection; resuming on the next", metadata: ["queue": "\(queue)"])
                mode = .cautious
            } catch {
                // The broker cancelled the consumer (its queue was deleted, a quorum queue's
                // leader moved) or closed its channel (a consumer timeout, say).
                await consumer.close()
                mode = .cautious
                refusals += 1
                await recover(from: error, attempt: refusals)
                continue
            }
            await consumer.close()  // what it delivered is settled by now; the next consumer gets a channel of its own
        }
    }

    /// After the broker ended or refused the consumer: declares the topology again (so a
    /// deleted queue comes back, empty, and is bound again) and waits a growing while before
    /// the consumer starts again. Only a graceful shutdown ends a consumer.
    private func recover(from error: any Error, attempt: Int) async {
        let delay = Backoff(initial: .milliseconds(500), maximum: .seconds(15)).delay(forAttempt: attempt - 1)
        logger.warning("the broker ended the consumer; declaring the topology again and resuming", metadata: [
            "queue": "\(queue)", "error": "\(error)", "attempt": "\(attempt)", "retry_in": "\(delay)",
        ])
        await broker.declareTopologyAgain(logger: logger)
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
    }

    /// How the consumer takes deliveries. A crash returns every message the worker held, each
    /// counted towards `DELIVERY_LIMIT`, and a quorum queue hands them out again first, so
    /// messages held with a crashing one would reach the limit with it. A consumer therefore
    /// starts cautious, at first and after a lost connection: a prefetch of 1, one message at
    /// a time, until it has handled one that is not a redelivery. A further crash on a
    /// redelivered message then returns that message alone.
    enum Mode {
        case cautious
        /// `PREFETCH` held and `CONCURRENCY` handled at once.
        case normal
    }

    /// Handles deliveries one at a time (the consumer's prefetch is 1) until one that is not a
    /// redelivery is handled; then cancels the consumer, handles what it still yields, and
    /// answers `.normal`. Answers `.cautious` if the consumer ends before that.
    private func processCautiously(_ consumer: AMQPConsumer) async throws -> Mode {
        var next = Mode.cautious
        for try await delivery in consumer {
            await handle(delivery)
            if !delivery.redelivered && next == .cautious {
                next = .normal
                consumer.cancel()
            }
        }
        return next
    }

    /// Handles deliveries with at most `CONCURRENCY` in flight, until the consumer ends.
    private func process(_ consumer: AMQPConsumer) async throws -> Mode {
        try await withTaskGroup(of: Void.self, returning: Result<Void, any Error>.self) { group in
            var running = 0
            defer { group.cancelAll() }
            do {
                for try await delivery in consumer {
                    if running >= settings.concurrency {
                        await group.next()
                        running -= 1
                    }
                    group.addTask { await self.handle(delivery) }
                    running += 1
                }
            } catch {
                // The consumer ended on an error: what it delivered is finished first, and
                // acknowledged if its channel still stands.
                await group.waitForAll()
                return .failure(error)
            }
            await group.waitForAll()
            return .success(())
        }.get()
        return .normal
    }

    /// Handles one delivery inside a consumer span that continues the trace of its
    /// `traceparent` header, so the events it emits carry the trace on.
    private func handle(_ delivery: AMQPDelivery) async {
        let parent = TraceParent.context(continuing: delivery.headers[TraceParent.header]?.stringValue)
        await withSpan("process \(queue)", context: parent, ofKind: .consumer) { span in
            span.attributes["messaging.system"] = "rabbitmq"
            span.attributes["messaging.destination.name"] = queue
            span.attributes["messaging.message.id"] = delivery.properties.messageID
            await handle(delivery, in: span)
        }
    }

    private func handle(_ delivery: AMQPDelivery, in span: any Span) async {
        progress.took()
        defer { progress.settled() }
        let event: OrderEvent
        do {
            event = try OrderEvent(decoding: delivery.body)
        } catch {
            if delivery.exchange == Exchanges.deadLetter {
                // A copy of a dead letter, observed from `dlx`: the original waits in its
                // dead-letter queue already, and there is nothing to learn from it here.
                try? delivery.ack()
                count("ignored")
                logger.warning("ignored an undecodable dead letter", metadata: ["queue": "\(queue)", "error": "\(error)"])
                return
            }
            await send(delivery, to: .deadLetter(.poison), error: "\(error)", logger: logger)
            return
        }
        var logger = self.logger
        logger[metadataKey: "order_id"] = "\(event.metadata.orderID.lowercasedText)"
        logger[metadataKey: "event_id"] = "\(event.metadata.eventID.lowercasedText)"
        span.attributes["order_id"] = event.metadata.orderID.lowercasedText
        let pending = PendingEvent(event: event, delivery: delivery, context: ServiceContext.current ?? .topLevel, logger: logger)
        while true {
            await database.waitUntilBack()
            if Task.isCancelled { return }  // left unacknowledged: the broker redelivers it
            do {
                let started = ContinuousClock.now
                defer { handlerDuration.record(duration: ContinuousClock.now - started) }
                let applied = try await transactions.submit(pending).get()
                if !applied { logger.info("duplicate event acknowledged without effect", metadata: ["event_type": "\(event.eventType.rawValue)"]) }
                try? delivery.ack()
                count(applied ? "acked" : "duplicate")
                return
            } catch {
                span.recordError(error)
                if let unprocessable = error as? UnprocessableEvent {
                    await send(delivery, to: .deadLetter(.poison), error: unprocessable.description, logger: logger)
                    return
                }
                if Task.isCancelled { return }
                if await database.isDown() { continue }  // not the message's failure: wait, then again
                await send(delivery, to: .retry, error: String(reflecting: error), logger: logger)
                return
            }
        }
    }
}

extension EventConsumer {
    /// Sends a delivery that failed on (`FailureRouting`) and counts the outcome: `retried`
    /// or `dead_lettered` once the copy is confirmed, nothing when it was handed back instead.
    private func send(_ delivery: AMQPDelivery, to destination: FailureRouting.Destination, error: String, logger: Logger) async {
        switch await failures.send(delivery, to: destination, error: error, logger: logger) {
        case nil: break
        case .retry: count("retried")
        case .deadLetter: count("dead_lettered")
        }
    }
}
