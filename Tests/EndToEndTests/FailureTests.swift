import AMQPClient
import Foundation
import OrderEvents
import TestSupport
import Testing

/// The failure paths of CONTRACT §4, with the real executables and `dlq-inspector`.
extension PipelineTests {
    // MARK: Helpers

    /// Runs `dlq-inspector` against the test broker; expects `status`.
    @discardableResult
    func inspector(_ arguments: String..., status: Int32 = 0) async throws -> CommandOutcome {
        let outcome = try await Pipeline.execute("dlq-inspector", arguments)
        #expect(outcome.status == status, "dlq-inspector \(arguments.joined(separator: " ")): \(outcome.errors)")
        return outcome
    }

    /// `dlq-inspector list --json` for one dead-letter queue.
    func deadLetters(in queue: String) async throws -> [[String: Any]] {
        let outcome = try await inspector("list", "--queue", queue, "--limit", "10000", "--json")
        let document = try JSONSerialization.jsonObject(with: Data(outcome.output.utf8)) as? [String: Any]
        let queues = document?["queues"] as? [[String: Any]] ?? []
        return queues.first?["dead_letters"] as? [[String: Any]] ?? []
    }

    func deadLetter(in queue: String, orderID: String) async throws -> [String: Any]? {
        try await deadLetters(in: queue).first { $0["order_id"] as? String == orderID }
    }

    /// Every notification fails, and is retried twice, quickly, before it is dead-lettered.
    static let failingNotifications = ["FAULT_FAILURE_RATE": "1", "MAX_ATTEMPTS": "3", "RETRY_DELAYS": Pipeline.fastRetryDelays]

    /// Places an order under `failingNotifications`; returns its id and its dead letter, which
    /// must have taken its three attempts.
    func placeUntilRetriesExhausted() async throws -> (id: String, letter: [String: Any]) {
        let id = try await place("Burger")
        let queue = Queues.deadLetter(of: Queues.inventoryEvents)
        try await eventually(.seconds(30), "the InventoryReserved to be dead-lettered") { try await deadLetter(in: queue, orderID: id) != nil }
        let letter = try #require(try await deadLetter(in: queue, orderID: id))
        #expect(letter["reason"] as? String == "retries_exhausted")
        #expect(letter["attempts"] as? Int == 3)
        return (id, letter)
    }

    func history(_ order: [String: Any]) -> [String] {
        (order["history"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
    }

    func publish(_ bodies: [(Data, AMQPProperties)], exchange: String, routingKey: String) async throws {
        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: Pipeline.rabbitURL, connectionName: "e2e-publisher"))
        try await connection.publish(bodies.map { OutgoingMessage(body: $0.0, exchange: exchange, routingKey: routingKey, properties: $0.1, mandatory: true) })
        await connection.close()
    }

    // MARK: Failure paths

    @Test("malformed messages on orders / order.placed land in order-events-dlq as poison with x-error; valid orders keep flowing")
    func poisonMessages() async throws {
        try await pipeline.run()
        try await inspector("discard", "--all", "--yes")
        let misrouted = Event(metadata: EventMetadata(orderID: UUID(), causationID: UUID()), payload: NotificationSent(userID: "x", channel: "log", outcome: .reserved))
        try await publish([
            (Data("not json at all".utf8), AMQPProperties(contentType: "text/plain")),
            (Data(#"{"event_type":"OrderShipped","schema_version":1,"event_id":"\#(UUID())","order_id":"\#(UUID())"}"#.utf8), AMQPProperties()),
            (misrouted.encoded(), misrouted.properties(appID: "e2e")),
        ], exchange: Exchanges.orders, routingKey: EventType.orderPlaced.routingKey)
        let id = try await place("Pizza")
        _ = try await waitUntilNotified([id])

        let queue = Queues.deadLetter(of: Queues.orderEvents)
        try await eventually(.seconds(30), "three dead letters in \(queue)") { try await deadLetters(in: queue).count == 3 }
        let letters = try await deadLetters(in: queue)
        #expect(letters.allSatisfy { $0["reason"] as? String == "poison" && $0["failed_by"] as? String == "inventory-worker" })
        #expect(letters.allSatisfy { $0["original_exchange"] as? String == "orders" && $0["original_routing_key"] as? String == "order.placed" })
        let errors = letters.compactMap { $0["error"] as? String }
        #expect(errors.contains { $0.contains("not a JSON object") })
        #expect(errors.contains { $0.contains("OrderShipped") })
        #expect(errors.contains { $0.contains("inventory-worker handles OrderPlaced, not NotificationSent") })
        // The API observes dead-lettered OrderPlaced events, and adds nothing of these to its own DLQ.
        #expect(try await deadLetters(in: Queues.deadLetter(of: Queues.orderStatus)).isEmpty)

        let stats = try JSONSerialization.jsonObject(with: Data(try await inspector("stats", "--json").output.utf8)) as? [String: Any]
        let counts = (stats?["queues"] as? [[String: Any]])?.first { $0["queue"] as? String == queue }
        #expect(counts?["messages"] as? Int == 3)
        #expect((counts?["reasons"] as? [String: Any])?["poison"] as? Int == 3)
        let discarded = try await inspector("discard", "--all", "--queue", queue, "--yes")
        #expect(discarded.output.contains("\(queue): discarded 3"))
        #expect(try await deadLetters(in: queue).isEmpty)
    }

    @Test("an OrderPlaced that outlives ORDER_TTL while no inventory worker runs expires; the order shows expired; a replay reserves it exactly once")
    func expiredAndReplayed() async throws {
        try await pipeline.run(inventoryReplicas: 0, apiSettings: ["ORDER_TTL": "1s"])
        try await inspector("discard", "--all", "--yes")
        let id = try await place("Sushi", quantity: 2)
        try await eventually(.seconds(30), "the order to expire") { try await order(id)["status"] as? String == "expired" }
        #expect(try await order(id)["reason"] as? String == "expired")

        let queue = Queues.deadLetter(of: Queues.orderEvents)
        let letter = try #require(try await deadLetter(in: queue, orderID: id))
        #expect(letter["reason"] as? String == "expired")
        #expect(letter["event_type"] as? String == "OrderPlaced")
        #expect(letter["original_exchange"] as? String == "orders" && letter["original_routing_key"] as? String == "order.placed")
        #expect(letter["first_failure"] is String)
        let eventID = try #require(letter["event_id"] as? String)
        let shown = try await inspector("show", eventID).output
        #expect(shown.contains(#""x-death""#) && shown.contains(#""reason" : "expired""#) && shown.contains(id))

        try await pipeline.run(apiSettings: ["ORDER_TTL": "1s"])
        try await waitUntilSettled()
        let before = try await stock("Sushi")
        let replayed = try await inspector("replay", "--event-id", eventID)
        #expect(replayed.output.contains("\(queue): replayed 1 of 1"))
        let notified = try #require(try await waitUntilNotified([id]).first)
        #expect(notified["status"] as? String == "reserved")
        #expect(history(notified) == ["accepted", "expired", "reserved", "notified"])
        #expect(try await stock("Sushi").reserved == before.reserved + 2)
        // It left the DLQ: a second replay finds nothing, and says so.
        let again = try await inspector("replay", "--event-id", eventID, status: 1)
        #expect(again.errors.contains("not found: \(eventID)"))
    }

    @Test("a notification failing every time is dead-lettered after MAX_ATTEMPTS with its headers; replayed without the fault, it is sent once")
    func retriesExhaustedAndReplayed() async throws {
        try await pipeline.run(notificationSettings: Self.failingNotifications)
        try await inspector("discard", "--all", "--yes")
        let (id, letter) = try await placeUntilRetriesExhausted()
        let queue = Queues.deadLetter(of: Queues.inventoryEvents)
        #expect(letter["failed_by"] as? String == "notification-worker")
        #expect((letter["error"] as? String)?.contains("injected failure") == true)
        #expect(letter["first_failure"] is String)
        #expect(letter["original_exchange"] as? String == "inventory" && letter["original_routing_key"] as? String == "inventory.reserved")
        let waiting = try await order(id)
        #expect(waiting["status"] as? String == "reserved" && waiting["notified_at"] is NSNull)

        try await pipeline.run()
        let dryRun = try await inspector("replay", "--reason", "retries_exhausted", "--queue", queue, "--dry-run")
        #expect(dryRun.output.contains("\(queue): would replay 1"))
        #expect(try await deadLetters(in: queue).count == 1)
        try await inspector("replay", "--reason", "retries_exhausted", "--queue", queue)
        let notified = try #require(try await waitUntilNotified([id]).first)
        // The replay reached order-status too, which had seen the event: nothing is doubled.
        #expect(history(notified) == ["accepted", "reserved", "notified"])
        #expect(try await deadLetters(in: queue).isEmpty)
    }

    @Test("an order that kills its inventory worker on every delivery is dead-lettered after DELIVERY_LIMIT; the orders queued with it are reserved, and the replicas keep serving")
    func crashLoop() async throws {
        let crashing = ["FAULT_CRASH_ITEM": "Kaboom"]
        // Queued while no inventory worker runs, so a worker takes them together.
        try await pipeline.run(inventoryReplicas: 0)
        try await inspector("discard", "--all", "--yes")
        let before = try await place(20, of: "Taco", concurrency: 4)
        let doomed = try await place("Kaboom")
        let others = try await before + place(20, of: "Taco", concurrency: 4)
        // Restart whichever replica died, as a supervisor (systemd, Kubernetes) would.
        try await eventually(.seconds(120), "the crashing order to be dead-lettered and the others notified") {
            try? await pipeline.run(inventoryReplicas: 2, inventorySettings: crashing)
            guard try await order(doomed)["status"] as? String == "failed" else { return false }
            for id in others where try await order(id)["notified_at"] is NSNull { return false }
            return true
        }
        #expect(try await order(doomed)["reason"] as? String == "delivery_limit")
        let orders = try await waitUntilNotified(others)
        #expect(orders.allSatisfy { $0["status"] as? String == "reserved" })
        let letter = try await deadLetter(in: Queues.deadLetter(of: Queues.orderEvents), orderID: doomed)
        #expect(letter?["reason"] as? String == "delivery_limit")
        try await inspector("discard", "--all", "--yes")
    }

    @Test("250 dead letters replayed in one go are each processed once: nothing lost, nothing doubled")
    func bulkReplay() async throws {
        try await pipeline.run()
        try await inspector("discard", "--all", "--yes")
        try await waitUntilSettled()
        let before = try await stock("Salad")
        let queue = Queues.deadLetter(of: Queues.orderEvents)
        let events = (0..<250).map { _ in Event(metadata: EventMetadata(orderID: UUID()), payload: OrderPlaced(userID: "bulk", item: "Salad", quantity: 1)) }
        try await publish(events.map { event in
            var properties = event.properties(appID: "e2e")
            properties.headers = [FailureHeaders.reason: "retries_exhausted", FailureHeaders.originalExchange: "orders", FailureHeaders.originalRoutingKey: "order.placed"]
            return (event.encoded(), properties)
        }, exchange: Exchanges.deadLetter, routingKey: queue)

        // Listing takes nothing away, however often it is done.
        #expect(try await deadLetters(in: queue).count == 250)
        #expect(try await deadLetters(in: queue).count == 250)
        let replayed = try await inspector("replay", "--all", "--queue", queue)
        #expect(replayed.output.contains("\(queue): replayed 250 of 250"))
        #expect(replayed.errors.contains("\(queue): 250 of 250"))
        try await eventually(.seconds(60), "250 reservations") { try await stock("Salad").reserved == before.reserved + 250 }
        #expect(try await deadLetters(in: queue).isEmpty)
    }

    @Test("dlq-inspector: one clear line and status 69 without a broker, 64 for a bad command")
    func inspectorErrors() async throws {
        let unreachable = try await Pipeline.execute("dlq-inspector", ["list"], settings: ["RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:1/test"])
        #expect(unreachable.status == 69)
        #expect(unreachable.errors.hasPrefix("dlq-inspector: cannot reach RabbitMQ at 127.0.0.1:1"))
        #expect(unreachable.errors.split(separator: "\n").count == 1)
        #expect(try await Pipeline.execute("dlq-inspector", ["replay"]).status == 64)
        #expect(try await Pipeline.execute("dlq-inspector", ["discard", "--all"]).status == 64)
        #expect(try await Pipeline.execute("dlq-inspector", ["list", "--queue", "order-events"]).status == 64)
    }

    @Test("a worker whose queue type differs from the broker's queue stops with one line naming the argument and how to migrate")
    func topologyMismatch() async throws {
        try await pipeline.run()
        let outcome = try await Pipeline.execute("inventory-worker", settings: ["RABBITMQ_QUEUE_TYPE": "classic", "ADMIN_PORT": "19199", "LOG_FORMAT": "json"])
        #expect(outcome.status == 1)
        let line = outcome.errors.split(separator: "\n").last.map(String.init) ?? ""
        // The broker names the first argument it finds different; each of these is the queue type's.
        #expect(line.hasPrefix("inventory-worker: queue 'order-events' already exists and its x-"))
        #expect(line.contains("set RABBITMQ_QUEUE_TYPE to match") && line.contains("rabbitmqctl delete_queue order-events"))
    }
}
