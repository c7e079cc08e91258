public import AMQPClient
public import Logging
public import OrderEvents
public import PostgresNIO

/// What a service does with the events of one transaction: the transaction also records
/// them as processed, and the events a handler emits go to `outbox`, which is written before
/// the commit.
public protocol EventHandler: Sendable {
    /// Whether handling this delivery is recorded under its `event_id`, so that a redelivery is
    /// acknowledged without effect (the default). A handler whose effect is idempotent by
    /// itself, and that may rightly see the same `event_id` again, answers false.
    func recordsProcessed(_ event: OrderEvent, delivery: AMQPDelivery) -> Bool

    /// What handling `event` asks of systems outside the database, such as a webhook call. The
    /// runtime makes the calls of all a transaction's new events at once, before `handle`, so
    /// that slow calls overlap rather than queue. At least once: when the transaction fails,
    /// its calls are made again. Does nothing by default.
    func callOut(for event: OrderEvent, delivery: AMQPDelivery, logger: Logger) async throws

    /// Handles a transaction's new events, in delivery order, with a fixed number of
    /// statements however many there are. Events that contend for the same rows in concurrent
    /// transactions are locked in one fixed order, so that such transactions cannot deadlock.
    /// A throw fails the transaction; its events are then handled again one by one.
    func handle(_ events: [PendingEvent], transaction: PostgresConnection, outbox: PendingOutbox) async throws
}

extension EventHandler {
    public func recordsProcessed(_ event: OrderEvent, delivery: AMQPDelivery) -> Bool { true }

    public func callOut(for event: OrderEvent, delivery: AMQPDelivery, logger: Logger) async throws {}
}
