import AMQPClient
import Foundation
import Logging
import OrderEvents
import PostgresNIO
import Prometheus
@testable import ServiceRuntime
import Synchronization
import TestSupport
import Testing
import Tracing

/// `EventConsumer`'s failure paths against the real broker and database, with a handler that
/// fails on cue: retries wait in the broker's retry queues, and give up after MAX_ATTEMPTS.
@Suite("Delayed retries through the broker", .serialized)
struct RetryIntegrationTests {
    /// The e2e tests' virtual host and database; this suite uses `inventory-events`, which
    /// nothing else consumes while it runs, and a schema of its own.
    static let environment = Broker.serviceEnvironment(["MAX_ATTEMPTS": "3"])
    static let queue = Queues.inventoryEvents
    static let service = ServiceIdentity(name: "retry-test", portVariable: "PORT", defaultPort: 1)

    /// Fails each event's first `failures[event_id]` attempts, and declares the `unprocessable`
    /// ones so; records every attempt, and each success as a row in `effects` (which commits
    /// only with the consumer's transaction).
    final class ScriptedHandler: EventHandler {
        struct Attempt { let eventID: UUID; let succeeded: Bool; let at: ContinuousClock.Instant }
        struct Unavailable: Error {}

        let failures: [UUID: Int]
        let unprocessable: Set<UUID>
        let attempts = Mutex<[Attempt]>([])

        init(failures: [UUID: Int] = [:], unprocessable: Set<UUID> = []) {
            self.failures = failures
            self.unprocessable = unprocessable
        }

        func handle(_ events: [PendingEvent], transaction: PostgresConnection, outbox: PendingOutbox) async throws {
            for pending in events { try await handle(pending.event, transaction: transaction, logger: pending.logger) }
        }

        private func handle(_ event: OrderEvent, transaction: PostgresConnection, logger: Logger) async throws {
            let id = event.metadata.eventID
            if unprocessable.contains(id) {
                attempts.withLock { $0.append(Attempt(eventID: id, succeeded: false, at: .now)) }
                throw UnprocessableEvent("scripted: never processable")
            }
            let failed = attempts.withLock { attempts in
                let earlier = attempts.count { $0.eventID == id }
                let fails = earlier < failures[id, default: 0]
                attempts.append(Attempt(eventID: id, succeeded: !fails, at: .now))
                return fails
            }
            if failed { throw Unavailable() }
            try await transaction.query("insert into effects (event_id) values (\(id))", logger: logger)
        }

        func attempts(of id: UUID) -> [Attempt] { attempts.withLock { $0.filter { $0.eventID == id } } }
    }

    /// A consumer with its broker connection and database client, running until `stop`.
    struct Running {
        let task: Task<Void, any Error>
        func stop() async { task.cancel(); _ = await task.result }
    }

    static func start(_ handler: ScriptedHandler, schema: DatabaseSchema) async throws -> Running {
        let settings = try ServiceSettings(service: Self.service, environment: environment)
        let logger = Logger(label: "retry-test")
        let resources = ServiceResources(settings: settings, environment: environment, logger: logger, metrics: PrometheusCollectorRegistry(), schema: schema)
        let (database, consuming, publishing) = (resources.database, resources.consuming, resources.publishing)
        let consumer = EventConsumer(queue: queue, handler: handler, resources: resources)
        let task = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.run() }
                group.addTask { try await consuming.run() }
                group.addTask { try await publishing.run() }
                try await schema.migrate(database, logger: logger)
                try await consumer.run()
            }
        }
        return Running(task: task)
    }

    static func event() -> Event<InventoryReserved> {
        Event(metadata: EventMetadata(orderID: UUID(), causationID: UUID()), payload: InventoryReserved(userID: "u", item: "Taco", quantity: 1))
    }

    /// Publishes straight to the work queue (through `retry`, which binds it by name).
    static func publish(_ event: Event<InventoryReserved>, on connection: AMQPConnection) async throws {
        try await connection.publish(event.encoded(), exchange: Exchanges.retry, routingKey: queue, properties: event.properties(appID: "retry-test"), mandatory: true)
    }

    /// A clean queue, DLQ and schema, and a connection for the test's own calls.
    static func prepare() async throws -> (AMQPConnection, DatabaseSchema) {
        let schema = DatabaseSchema(name: "retry_test", migrations: [["create table effects (event_id uuid not null)"]])
        let settings = try ServiceSettings(service: Self.service, environment: environment)
        let database = settings.database.client(schema: "public", logger: Logger(label: "retry-test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            try await database.query("drop schema if exists retry_test cascade")
            group.cancelAll()
        }
        let connection = try await AMQPConnection.connect(settings.broker.nodes[0])
        try await settings.broker.topology.declare(on: connection)
        for name in [queue, Queues.deadLetter(of: queue)] + settings.broker.topology.retryDelays.map({ Queues.retry(of: queue, delay: $0) }) {
            try await connection.purgeQueue(name)
        }
        return (connection, schema)
    }

    /// How many times each event took effect (committed rows in `effects`).
    static func effects() async throws -> [UUID: Int] {
        let settings = try ServiceSettings(service: Self.service, environment: environment)
        let database = settings.database.client(schema: "retry_test", logger: Logger(label: "retry-test"))
        return try await withThrowingTaskGroup(of: Void.self, returning: [UUID: Int].self) { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            var effects: [UUID: Int] = [:]
            for try await (id, count) in try await database.query("select event_id, count(*) from effects group by event_id").decode((UUID, Int).self) {
                effects[id] = count
            }
            return effects
        }
    }

    @Test("a failing event in a shared transaction fails alone: the others are handled again, each in its own transaction, and each takes effect once")
    func sharedTransaction() async throws {
        let steady = (0..<7).map { _ in Self.event() }
        let flaky = Self.event()
        let events = steady + [flaky]
        let handler = ScriptedHandler(failures: [flaky.metadata.eventID: 2])
        let outcomes = try await Self.handleTogether(events, with: handler)

        #expect(outcomes.map { (try? $0.get()) == true } == steady.map { _ in true } + [false])
        #expect(try await Self.effects() == Dictionary(uniqueKeysWithValues: steady.map { ($0.metadata.eventID, 1) }))
        // Each was handled in the shared transaction, which rolled back, then alone.
        for event in events { #expect(handler.attempts(of: event.metadata.eventID).count == 2) }
    }

    /// Its call-out for an event returns only once the call-outs of all `expected` events are
    /// under way (or fails after 5 s); its handling records the effect.
    final class OverlappingCallsHandler: EventHandler {
        struct NotAllAtOnce: Error {}

        let expected: Int
        let started = Mutex(0)

        init(expected: Int) { self.expected = expected }

        func callOut(for event: OrderEvent, delivery: AMQPDelivery, logger: Logger) async throws {
            started.withLock { $0 += 1 }
            let deadline = ContinuousClock.now + .seconds(5)
            while started.withLock({ $0 }) < expected {
                guard ContinuousClock.now < deadline else { throw NotAllAtOnce() }
                try await Task.sleep(for: .milliseconds(10))
            }
        }

        func handle(_ events: [PendingEvent], transaction: PostgresConnection, outbox: PendingOutbox) async throws {
            for pending in events {
                try await transaction.query("insert into effects (event_id) values (\(pending.event.metadata.eventID))", logger: pending.logger)
            }
        }
    }

    @Test("a transaction makes the call-outs of its events at once, so one slow call does not hold up the others")
    func callOutsOverlap() async throws {
        let events = (0..<6).map { _ in Self.event() }
        let handler = OverlappingCallsHandler(expected: events.count)
        let outcomes = try await Self.handleTogether(events, with: handler)

        #expect(outcomes.map { (try? $0.get()) == true } == events.map { _ in true })
        #expect(try await Self.effects() == Dictionary(uniqueKeysWithValues: events.map { ($0.metadata.eventID, 1) }))
        #expect(handler.started.withLock { $0 } == events.count, "one call-out per event, in one shared transaction")
    }

    /// Publishes `events`, takes their deliveries, and hands them to one `EventTransactions`
    /// call, as a consumer does with the deliveries it holds at once; acks them afterwards.
    static func handleTogether(_ events: [Event<InventoryReserved>], with handler: any EventHandler) async throws -> [Result<Bool, any Error>] {
        let (connection, schema) = try await Self.prepare()
        for event in events { try await Self.publish(event, on: connection) }
        var deliveries: [AMQPDelivery] = []
        for _ in events { deliveries.append(try #require(try await connection.get(queue: Self.queue))) }

        let settings = try ServiceSettings(service: Self.service, environment: Self.environment)
        let logger = Logger(label: "retry-test")
        let database = settings.database.client(schema: schema.name, logger: logger)
        let outcomes = try await withThrowingTaskGroup(of: Void.self, returning: [Result<Bool, any Error>].self) { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            try await schema.migrate(database, logger: logger)
            let transactions = EventTransactions(handler: handler, database: database, outbox: OutboxDispatch(), faults: settings.faults, limit: .seconds(30), logger: logger)
            return await transactions.handle(zip(events, deliveries).map { event, delivery in
                PendingEvent(event: .inventoryReserved(event), delivery: delivery, context: .topLevel, logger: logger)
            })
        }
        for delivery in deliveries { try delivery.ack() }
        await connection.close()
        return outcomes
    }

    @Test("a handler failing twice succeeds after two delayed retries, once; other messages pass while it waits, and a restart loses nothing")
    func failsTwiceThenSucceeds() async throws {
        let (connection, schema) = try await Self.prepare()
        let (flaky, steady) = (Self.event(), Self.event())
        let handler = ScriptedHandler(failures: [flaky.metadata.eventID: 2])
        var running = try await Self.start(handler, schema: schema)

        try await Self.publish(flaky, on: connection)
        try await eventually(.seconds(10), "the first attempt to fail") { handler.attempts(of: flaky.metadata.eventID).count == 1 }
        try await Self.publish(steady, on: connection)
        try await eventually(.seconds(10), "the other message to be handled while the first waits") {
            handler.attempts(of: steady.metadata.eventID).contains { $0.succeeded }
        }
        #expect(handler.attempts(of: flaky.metadata.eventID).count == 1)
        try await eventually(.seconds(5), "the retry to wait in the 1 s retry queue") {
            try await connection.inspectQueue(Queues.retry(of: Self.queue, delay: .seconds(1))).messageCount == 1
        }

        // The consumer goes away while the retry waits; a new one gets it all the same.
        await running.stop()
        running = try await Self.start(handler, schema: schema)
        try await eventually(.seconds(20), "the third attempt to succeed") {
            handler.attempts(of: flaky.metadata.eventID).contains { $0.succeeded }
        }
        await running.stop()

        let attempts = handler.attempts(of: flaky.metadata.eventID)
        #expect(attempts.map(\.succeeded) == [false, false, true])
        // The waits were the retry delays: 1 s, then 2 s.
        #expect(attempts[0].at.duration(to: attempts[1].at) >= .milliseconds(950))
        #expect(attempts[1].at.duration(to: attempts[2].at) >= .milliseconds(1950))
        #expect(try await connection.inspectQueue(Queues.deadLetter(of: Self.queue)).messageCount == 0)
        await connection.close()
    }

    @Test("a handler failing always ends in the dead-letter queue after MAX_ATTEMPTS, with its failure headers")
    func failsAlways() async throws {
        let (connection, schema) = try await Self.prepare()
        let doomed = Self.event()
        let handler = ScriptedHandler(failures: [doomed.metadata.eventID: .max])
        let running = try await Self.start(handler, schema: schema)
        let started = Date()
        try await Self.publish(doomed, on: connection)

        let deadLetterQueue = Queues.deadLetter(of: Self.queue)
        try await eventually(.seconds(20), "the message to reach \(deadLetterQueue)") {
            try await connection.inspectQueue(deadLetterQueue).messageCount == 1
        }
        await running.stop()
        #expect(handler.attempts(of: doomed.metadata.eventID).count == 3)

        let letter = try #require(try await connection.get(queue: deadLetterQueue))
        try letter.ack()
        #expect(letter.body == doomed.encoded())
        #expect(letter.properties.messageID == doomed.metadata.eventID.uuidString.lowercased())
        let deadLetter = FailureHeaders(letter.headers).deadLetter
        #expect(deadLetter.reason == .retriesExhausted)
        #expect(deadLetter.attempts == 3)
        #expect(deadLetter.failedBy == "retry-test")
        #expect(deadLetter.error == "IntegrationTests.RetryIntegrationTests.ScriptedHandler.Unavailable()")
        #expect(deadLetter.originalExchange == Exchanges.retry && deadLetter.originalRoutingKey == Self.queue)
        let firstFailure = try #require(deadLetter.firstFailure)
        #expect(abs(firstFailure.timeIntervalSince(started)) < 5)
        await connection.close()
    }

    @Test("an event the handler declares unprocessable is dead-lettered at once as poison, without retries")
    func unprocessable() async throws {
        let (connection, schema) = try await Self.prepare()
        let poison = Self.event()
        let handler = ScriptedHandler(unprocessable: [poison.metadata.eventID])
        let running = try await Self.start(handler, schema: schema)
        try await Self.publish(poison, on: connection)
        let deadLetterQueue = Queues.deadLetter(of: Self.queue)
        try await eventually(.seconds(10), "the message to reach \(deadLetterQueue)") {
            try await connection.inspectQueue(deadLetterQueue).messageCount == 1
        }
        await running.stop()
        #expect(handler.attempts(of: poison.metadata.eventID).count == 1)
        let letter = try #require(try await connection.get(queue: deadLetterQueue))
        try letter.ack()
        let deadLetter = FailureHeaders(letter.headers).deadLetter
        #expect(deadLetter.reason == .poison && deadLetter.attempts == 1)
        #expect(deadLetter.error == "scripted: never processable")
        await connection.close()
    }
}
