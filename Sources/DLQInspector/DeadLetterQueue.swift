import AMQPClient
import Foundation
import OrderEvents

/// One message of a dead-letter queue, held unacknowledged: it stays in the queue until it
/// is settled, and goes back if it never is.
struct StoredDeadLetter {
    let queue: String
    let delivery: AMQPDelivery
    let deadLetter: DeadLetter
    let eventType: String?
    let orderID: String?
    /// Lowercased.
    let eventID: String?

    init(queue: String, delivery: AMQPDelivery) {
        self.queue = queue
        self.delivery = delivery
        deadLetter = FailureHeaders(delivery.headers).deadLetter
        // Read leniently: a poison message may be anything.
        let fields = (try? JSONSerialization.jsonObject(with: delivery.body)) as? [String: Any] ?? [:]
        eventType = fields["event_type"] as? String ?? delivery.properties.type
        orderID = (fields["order_id"] as? String)?.lowercased()
        eventID = (fields["event_id"] as? String ?? delivery.properties.messageID)?.lowercased()
    }

    /// Where a replay goes: back to the queue that dead-lettered it, and to no other. The
    /// retry exchange binds each work queue by its own name, so a replay from
    /// `order-status-dlq` reaches `order-status` alone, not `inventory-events` too, as a
    /// publish to the event's first exchange would.
    var replayTarget: (exchange: String, routingKey: String) {
        (Exchanges.retry, Queues.workQueue(ofDeadLetterQueue: queue) ?? queue)
    }

    /// The replay: the same body and properties (so the same `event_id`, and consumers stay
    /// idempotent), without the headers of the failed journey, with the replays counted.
    var replay: OutgoingMessage {
        var properties = delivery.properties
        var headers = FailureHeaders(delivery.headers)
        headers.startReplay()
        properties.headers = headers.table
        let (exchange, routingKey) = replayTarget
        return OutgoingMessage(body: delivery.body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: true)
    }
}

/// A dead-letter queue read with `basic.get` on one connection. Messages are held
/// unacknowledged while the command works on them, so nothing leaves the queue unless the
/// command settles it; `release` hands the rest back.
struct DeadLetterQueue {
    let name: String
    let connection: AMQPConnection

    /// Up to `limit` of the messages (all when nil), oldest first, and how many the queue had.
    func read(limit: Int? = nil) async throws -> (letters: [StoredDeadLetter], total: Int) {
        let total: Int
        do {
            total = Int(try await connection.inspectQueue(name).messageCount)
        } catch AMQPError.channelClosed(code: 404, _, _) {
            complain("queue '\(name)' does not exist: no service has declared the topology on this broker yet")
            throw Exit.unavailable
        }
        var letters: [StoredDeadLetter] = []
        while letters.count < min(total, limit ?? total), let delivery = try await connection.get(queue: name) {
            letters.append(StoredDeadLetter(queue: name, delivery: delivery))
        }
        return (letters, total)
    }

    /// Acknowledges messages: they leave the queue for good.
    func remove(_ letters: [StoredDeadLetter]) async throws {
        for letter in letters { try letter.delivery.ack() }
        // A quorum queue applies acknowledgements asynchronously, and RabbitMQ requeues those
        // not yet applied when the connection closes right after them. A basic.get on the same
        // queue is ordered after them: once it answers, they are applied.
        if let next = try await connection.get(queue: name) { try next.nack(requeue: true) }
    }

    /// Up to `limit` of the messages, and how many the queue had, all handed back at once:
    /// looking removes nothing.
    func peek(limit: Int? = nil) async throws -> (letters: [StoredDeadLetter], total: Int) {
        let (letters, total) = try await read(limit: limit)
        release(letters)
        return (letters, total)
    }

    /// Puts messages back in the queue, unchanged.
    func release(_ letters: [StoredDeadLetter]) {
        for letter in letters { try? letter.delivery.nack(requeue: true) }
    }
}

/// Runs `body` with a broker connection, and closes it afterwards, which also hands back
/// anything still held.
func withBroker<T>(_ body: (AMQPConnection) async throws -> T) async throws -> T {
    try await connect().closing(after: body)
}
