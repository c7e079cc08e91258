import AMQPClient
import Foundation
import Logging
import OrderEvents
import PostgresNIO
import TestSupport
import Testing

/// What operators, the broker and the database do to a running system, tried with the real
/// executables: each test fails on the code before its fix.
extension PipelineTests {
    /// Runs `body` with a connection of the test virtual host, closed afterwards.
    func withBroker<T: Sendable>(_ body: (AMQPConnection) async throws -> T) async throws -> T {
        try await AMQPConnection.connect(AMQPConfiguration(url: Pipeline.rabbitURL, connectionName: "e2e-operator")).closing(after: body)
    }

    func readiness(_ url: String) async throws -> (status: Int, problems: [String: String]) {
        let response = try await HTTP.get("\(url)/ready")
        return (response.status, response.json["problems"] as? [String: String] ?? [:])
    }

    @Test("a work queue deleted while the system runs: no worker exits, the queue comes back, and every accepted order is processed, those posted meanwhile included")
    func deletedQueue() async throws {
        try await pipeline.run(inventoryReplicas: 2)
        try await waitUntilSettled()
        var ids = try await place(20, of: "Taco")
        _ = try await waitUntilNotified(ids)

        // Deleted under running consumers: the broker cancels them, and they declare it again.
        _ = try await withBroker { try await $0.deleteQueue(Queues.orderEvents) }
        let deleted = ContinuousClock.now
        try await eventually(.seconds(30), "the inventory workers to declare order-events again and consume it") {
            (try? await withBroker { try await $0.inspectQueue(Queues.orderEvents).consumerCount }) == 2
        }
        print("order-events deleted under its consumers: declared and consumed again after \(ContinuousClock.now - deleted)")
        let exited = await pipeline.exited()
        #expect(exited.isEmpty, "exited after the queue was deleted: \(exited)")
        ids += try await place(20, of: "Taco")

        // Deleted while no worker runs: what is posted meanwhile waits in the outbox, and
        // /ready names the route that takes nothing.
        try await pipeline.run(inventoryReplicas: 0)
        _ = try await withBroker { try await $0.deleteQueue(Queues.orderEvents) }
        let waiting = try await place(10, of: "Taco")
        ids += waiting
        let api = self.api
        let ready = try await within(.seconds(30), "order-api's /ready to name the unroutable route") {
            while true {
                let ready = try await readiness(api)
                if let problem = ready.problems["outbox:OrderPlaced"] { return (ready.status, problem) }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        #expect(ready.0 == 200, "order-api stays ready: it still takes orders")
        #expect(ready.1.contains("'orders'") && ready.1.contains("'order.placed'"), "\(ready.1)")
        for id in waiting { #expect(try await order(id)["status"] as? String == "accepted") }

        try await pipeline.run(inventoryReplicas: 1)
        let declared = ContinuousClock.now
        let orders = try await waitUntilNotified(ids)
        print("the orders held in the outbox were notified \(ContinuousClock.now - declared) after a worker declared the queue again")
        #expect(orders.allSatisfy { $0["status"] as? String == "reserved" })
        try await eventually(.seconds(10), "order-api's /ready to drop the problem") {
            try await readiness(api).problems["outbox:OrderPlaced"] == nil
        }
    }

    @Test("exchanges deleted while the system runs: the publishers declare them and their bindings again, every order posted after is processed, and poison still reaches its DLQ")
    func deletedExchanges() async throws {
        try await pipeline.run()
        try await inspector("discard", "--all", "--yes")
        try await waitUntilSettled()
        _ = try await waitUntilNotified(try await place(5, of: "Sushi"))

        // Deleting an exchange drops its bindings too; no consumer is cancelled, so only a
        // publisher that finds the exchange gone can put it back.
        try await withBroker { broker in
            try await broker.deleteExchange(Exchanges.orders)
            try await broker.deleteExchange(Exchanges.inventory)
        }
        let deleted = ContinuousClock.now
        let ids = try await place(20, of: "Sushi")
        let orders = try await waitUntilNotified(ids, within: .seconds(30))
        print("orders posted after their exchanges were deleted were notified \(ContinuousClock.now - deleted) after the deletion")
        #expect(orders.allSatisfy { $0["status"] as? String == "reserved" })

        // The dead-letter exchange alone: a consumer that dead-letters poison finds it gone.
        try await withBroker { try await $0.deleteExchange(Exchanges.deadLetter) }
        try await publish([(Data("poison after dlx was deleted".utf8), AMQPProperties(contentType: "text/plain"))], exchange: Exchanges.orders, routingKey: EventType.orderPlaced.routingKey)
        let queue = Queues.deadLetter(of: Queues.orderEvents)
        try await eventually(.seconds(30), "the poison in \(queue)") { try await deadLetters(in: queue).count == 1 }
        try await inspector("discard", "--all", "--queue", queue, "--yes")
        let exited = await pipeline.exited()
        #expect(exited.isEmpty, "exited after the exchanges were deleted: \(exited)")
    }

    @Test("a dead-letter queue deleted while the system runs: the next poison brings it back and lands in it")
    func deletedDeadLetterQueue() async throws {
        try await pipeline.run()
        let queue = Queues.deadLetter(of: Queues.orderEvents)
        _ = try await withBroker { try await $0.deleteQueue(queue) }
        try await publish([(Data("poison after its DLQ was deleted".utf8), AMQPProperties(contentType: "text/plain"))], exchange: Exchanges.orders, routingKey: EventType.orderPlaced.routingKey)
        try await eventually(.seconds(30), "\(queue) declared again, with the poison in it") {
            (try? await withBroker { try await $0.inspectQueue(queue).messageCount }) == 1
        }
        #expect(try await deadLetters(in: queue).first?["reason"] as? String == "poison")
        try await inspector("discard", "--all", "--queue", queue, "--yes")
    }

    @Test("an order expired while order-events-dlq is deleted: order-api, which gets the broker's dead letter too, puts a copy in the queue, declared again, and a replay of it reserves the order")
    func expiredWhileDeadLetterQueueDeleted() async throws {
        try await pipeline.run(inventoryReplicas: 0, apiSettings: ["ORDER_TTL": "1s"])
        let queue = Queues.deadLetter(of: Queues.orderEvents)
        _ = try await withBroker { try await $0.deleteQueue(queue) }
        let id = try await place("Sushi", quantity: 2)
        try await eventually(.seconds(30), "the order to expire") { try await order(id)["status"] as? String == "expired" }
        // The order moved in the transaction that put the copy: it is there by now, alone.
        let letters = try await deadLetters(in: queue)
        #expect(letters.count == 1)
        let letter = try #require(letters.first { $0["order_id"] as? String == id })
        #expect(letter["reason"] as? String == "expired")

        try await pipeline.run(apiSettings: ["ORDER_TTL": "1s"])
        try await waitUntilSettled()
        let replayed = try await inspector("replay", "--event-id", try #require(letter["event_id"] as? String))
        #expect(replayed.output.contains("\(queue): replayed 1 of 1"))
        #expect(try await waitUntilNotified([id]).first?["status"] as? String == "reserved")
    }

    @Test("retry queues deleted while the system runs: the next retry brings them back, and a failing notification still takes its delayed attempts to the DLQ")
    func deletedRetryQueues() async throws {
        try await pipeline.run(notificationSettings: Self.failingNotifications)
        try await inspector("discard", "--all", "--yes")
        try await withBroker { broker in
            for delay in try Pipeline.fastRetries() {
                _ = try await broker.deleteQueue(Queues.retry(of: Queues.inventoryEvents, delay: delay))
            }
        }
        _ = try await placeUntilRetriesExhausted()
        try await inspector("discard", "--all", "--yes")
    }

    @Test("a dead letter published with a per-message TTL outlives it in its DLQ, however often it is listed")
    func deadLetterDoesNotExpire() async throws {
        try await pipeline.run()
        try await inspector("discard", "--all", "--yes")
        let queue = Queues.deadLetter(of: Queues.orderEvents)
        var properties = AMQPProperties(contentType: "text/plain")
        properties.expiration = "1500"
        try await publish([(Data("poison with a TTL".utf8), properties)], exchange: Exchanges.orders, routingKey: EventType.orderPlaced.routingKey)
        try await eventually(.seconds(30), "the poison in \(queue)") { try await deadLetters(in: queue).count == 1 }
        let arrived = ContinuousClock.now
        for _ in 1...5 { #expect(try await deadLetters(in: queue).count == 1) }
        // What is asserted is time itself: the message outlives its TTL by twice over.
        try await Task.sleep(until: arrived + .seconds(3))
        #expect(try await deadLetters(in: queue).count == 1)
        let stats = try JSONSerialization.jsonObject(with: Data(try await inspector("stats", "--json").output.utf8)) as? [String: Any]
        #expect((stats?["queues"] as? [[String: Any]])?.first { $0["queue"] as? String == queue }?["messages"] as? Int == 1)
        try await inspector("discard", "--all", "--queue", queue, "--yes")
    }

    @Test("a replay from order-status-dlq reaches order-status alone, not the notification-worker's queue")
    func replayReachesOnlyItsQueue() async throws {
        try await pipeline.run(inventoryReplicas: 0)
        try await inspector("discard", "--all", "--yes")
        await pipeline.stop(.notification)
        let id = try await place("Pizza")
        // As order-api dead-letters an event of the inventory: with where it was first published.
        let orderID = try #require(UUID(uuidString: id))
        let event = Event(metadata: EventMetadata(orderID: orderID, causationID: UUID()), payload: InventoryReserved(userID: "e2e", item: "Pizza", quantity: 1))
        var properties = event.properties(appID: "inventory-worker")
        properties.headers = [
            FailureHeaders.originalExchange: .string(Exchanges.inventory), FailureHeaders.originalRoutingKey: .string(EventType.inventoryReserved.routingKey),
            FailureHeaders.reason: .string(DeadLetterReason.retriesExhausted.rawValue), FailureHeaders.failedBy: .string("order-api"),
        ]
        let deadLetterQueue = Queues.deadLetter(of: Queues.orderStatus)
        try await publish([(event.encoded(), properties)], exchange: Exchanges.deadLetter, routingKey: deadLetterQueue)
        let before = try await withBroker { try await $0.inspectQueue(Queues.inventoryEvents).messageCount }

        try await inspector("replay", "--all", "--queue", deadLetterQueue)
        try await eventually(.seconds(30), "the replayed InventoryReserved to reserve the order") {
            try await order(id)["status"] as? String == "reserved"
        }
        #expect(try await withBroker { try await $0.inspectQueue(Queues.inventoryEvents).messageCount } == before)
        try await pipeline.run()
    }

    @Test("a commit slower than the store's timeout answers 202, not 503, for the order it stores")
    func slowCommit() async throws {
        try await pipeline.run()
        try await Pipeline.withDatabase { client in
            try await client.query("""
                create or replace function order_api.slow_commit() returns trigger language plpgsql as $$
                begin perform pg_sleep(7); return null; end $$
                """)
            try await client.query("""
                create constraint trigger slow_commit after insert on order_api.orders
                deferrable initially deferred for each row execute function order_api.slow_commit()
                """)
        }
        let response: HTTPResult
        do {
            response = try await HTTP.post("\(api)/orders", body: #"{"user_id":"slow","item":"Salad"}"#)
            try await Self.dropSlowCommit()
        } catch {
            try await Self.dropSlowCommit()
            throw error
        }
        #expect(response.status == 202, "POST /orders answered \(response.status): \(String(decoding: response.body, as: UTF8.self))")
        let id = try #require(response.string("order_id"))
        #expect(try await HTTP.get("\(api)/orders/\(id)").status == 200)
        _ = try await waitUntilNotified([id])
    }

    static func dropSlowCommit() async throws {
        try await Pipeline.withDatabase { client in
            try await client.query("drop trigger if exists slow_commit on order_api.orders")
            try await client.query("drop function if exists order_api.slow_commit()")
        }
    }

    @Test("a 100-second PostgreSQL outage while the workers hold a backlog: every order is reserved after it, none failed, none stuck", .timeLimit(.minutes(6)))
    func longDatabaseOutage() async throws {
        // A retry schedule far shorter than the outage (each failed attempt also waits for
        // PostgresNIO's pool): an outage that cost attempts would fail the orders.
        try await pipeline.run(inventoryReplicas: 2, inventorySettings: ["RETRY_DELAYS": "1s,5s", "MAX_ATTEMPTS": "3"])
        try await waitUntilSettled()
        _ = try await waitUntilNotified(try await place(10, of: "Burger"))  // the consumers leave their cautious start
        try await inspector("discard", "--all", "--yes")
        await pipeline.signal(.inventory, replica: 1, SIGSTOP)
        await pipeline.signal(.inventory, replica: 2, SIGSTOP)
        let ids = try await place(30, of: "Burger")
        try await eventually(.seconds(30), "the 30 OrderPlaced to leave the outbox for the stopped workers") {
            PipelineTests.sample("outbox_backlog", in: try await PipelineTests.metrics(.orderAPI)) == 0
        }
        try Pipeline.infra("stop", "postgres")
        await pipeline.signal(.inventory, replica: 1, SIGCONT)
        await pipeline.signal(.inventory, replica: 2, SIGCONT)
        try await Task.sleep(for: .seconds(100))
        try Pipeline.infra("start", "postgres")
        let back = ContinuousClock.now

        let api = self.api
        try await eventually(.seconds(60), "every order to be reserved within a minute of the database's return") {
            for id in ids where try await HTTP.get("\(api)/orders/\(id)").json["status"] as? String != "reserved" { return false }
            return true
        }
        let recovery = ContinuousClock.now - back
        print("reserved within \(recovery) of PostgreSQL's return")
        _ = try await waitUntilNotified(ids)
        #expect(try await deadLetters(in: Queues.deadLetter(of: Queues.orderEvents)).isEmpty)
        let exited = await pipeline.exited()
        #expect(exited.isEmpty, "exited: \(exited)")
        try await pipeline.run()  // the usual settings again
    }

    @Test("the database read-only for 10 s while a worker holds a backlog (a standby behind the address, a managed database whose disk is full): the worker pauses without spending attempts, and every order is reserved after it, none failed", .timeLimit(.minutes(3)))
    func readOnlyDatabase() async throws {
        // Three attempts a second apart: a read-only database that cost attempts would fail
        // the orders long before it is writable again.
        try await pipeline.run(inventorySettings: ["RETRY_DELAYS": "1s", "MAX_ATTEMPTS": "3"])
        try await waitUntilSettled()
        _ = try await waitUntilNotified(try await place(10, of: "Burger"))  // the consumer leaves its cautious start
        try await inspector("discard", "--all", "--yes")
        let before = try await stock("Burger")
        await pipeline.signal(.inventory, replica: 1, SIGSTOP)
        let ids = try await place(30, of: "Burger")
        try await eventually(.seconds(30), "the 30 OrderPlaced to leave the outbox for the stopped worker") {
            PipelineTests.sample("outbox_backlog", in: try await PipelineTests.metrics(.orderAPI)) == 0
        }
        try await Self.setDatabaseReadOnly(true)
        do {
            await pipeline.signal(.inventory, replica: 1, SIGCONT)
            try await Task.sleep(for: .seconds(10))  // read-only well beyond what three attempts take
            let problem = try await readiness("http://127.0.0.1:\(Pipeline.port(.inventory, replica: 1))").problems["consumer:\(Queues.orderEvents)"]
            #expect(problem?.contains("paused") == true, "inventory-worker's /ready names no pause: \(String(describing: problem))")
        } catch {
            try await Self.setDatabaseReadOnly(false)
            throw error
        }
        try await Self.setDatabaseReadOnly(false)

        let orders = try await waitUntilNotified(ids)
        #expect(orders.allSatisfy { $0["status"] as? String == "reserved" })
        #expect(try await stock("Burger").reserved == before.reserved + 30, "each order reserved once")
        #expect(try await deadLetters(in: Queues.deadLetter(of: Queues.orderEvents)).isEmpty)
        try await pipeline.run()  // the usual settings again
    }

    /// Makes the test database read-only, as a standby or an operator's
    /// `default_transaction_read_only` does, or writable again. A session takes the setting
    /// when it starts, so the services' sessions are ended and their pools open new ones.
    static func setDatabaseReadOnly(_ readOnly: Bool) async throws {
        try await Pipeline.withDatabase { client in
            try await client.withConnection { connection in
                let logger = Logger(label: "read-only")
                let setting = readOnly ? "set default_transaction_read_only = on" : "reset default_transaction_read_only"
                for statement in [
                    "set session characteristics as transaction read write",
                    "alter database orders_test \(setting)",
                    "select pg_terminate_backend(pid) from pg_stat_activity where datname = 'orders_test' and pid <> pg_backend_pid()",
                ] {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
        }
    }

    @Test("a 20-second broker memory alarm under load: order-api takes orders through it, a SIGTERM during it exits in time, and afterwards every order is reserved once", .timeLimit(.minutes(4)))
    func memoryAlarm() async throws {
        try await pipeline.run(inventoryReplicas: 2)
        try await waitUntilSettled()
        let before = try await stock("Sushi")
        var ids = try await place(20, of: "Sushi")  // some on their way when the alarm starts
        let alarmStarted = ContinuousClock.now
        try Pipeline.infra("ctl", "set_vm_memory_high_watermark", "0")
        do {
            // 80 orders over about 16 s, posted through the alarm: they wait in the outbox.
            for _ in 0..<80 {
                ids.append(try await place("Sushi"))
                try await Task.sleep(for: .milliseconds(200))
            }
            // order-api's publishing connection is blocked now, with events waiting.
            let started = ContinuousClock.now
            let status = await pipeline.stop(.orderAPI)
            let shutdown = ContinuousClock.now - started
            print("SIGTERM during the alarm: order-api exited after \(shutdown) with status \(String(describing: status))")
            #expect(shutdown < .seconds(25), "SIGTERM during the alarm took \(shutdown)")
            #expect(status == 0, "order-api stopped during the alarm exited with \(String(describing: status))")
            try await Task.sleep(until: alarmStarted + .seconds(20))
        } catch {
            try? Pipeline.infra("ctl", "set_vm_memory_high_watermark", "0.4")
            throw error
        }
        try Pipeline.infra("ctl", "set_vm_memory_high_watermark", "0.4")
        try await pipeline.run(inventoryReplicas: 2)  // order-api again: it relays what waited
        let orders = try await waitUntilNotified(ids, within: .seconds(120))
        #expect(orders.allSatisfy { $0["status"] as? String == "reserved" })
        let after = try await stock("Sushi")
        #expect(after.available == before.available - 100)
        #expect(after.reserved == before.reserved + 100)
        let exited = await pipeline.exited()
        #expect(exited.isEmpty, "exited: \(exited)")
    }
}
