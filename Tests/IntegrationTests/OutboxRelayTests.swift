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

/// `OutboxRelay` against the real broker and database: the rows a transaction hands over as
/// it commits are published from memory and deleted; a row nobody handed over (its writer
/// stopped after the commit) is left to the sweep, which publishes it once it is older than
/// the sweep age, and not before.
@Suite("Outbox relay against RabbitMQ and PostgreSQL", .serialized)
struct OutboxRelayTests {
    static let environment = Broker.serviceEnvironment()
    static let service = ServiceIdentity(name: "outbox-test", portVariable: "PORT", defaultPort: 1)
    static let schema = DatabaseSchema(name: "outbox_test", migrations: [])

    static func event() -> Outbox.Entry<NotificationSent> {
        Outbox.Entry(Event(metadata: EventMetadata(orderID: UUID(), causationID: UUID()), payload: NotificationSent(userID: "u", channel: "log", outcome: .reserved)))
    }

    @Test("rows handed over at commit go out at once and are deleted; a row left behind is swept once older than the sweep age")
    func dispatchAndSweep() async throws {
        let settings = try ServiceSettings(service: Self.service, environment: Self.environment)
        let connection = try await AMQPConnection.connect(settings.broker.nodes[0])
        try await settings.broker.topology.declare(on: connection)
        let queue = try await Broker.declareTemporaryQueue(on: connection)
        try await connection.bindQueue(queue, exchange: EventType.notificationSent.exchange, routingKey: EventType.notificationSent.routingKey)
        let leftBehind = Self.event()
        let young = Self.event()

        // A relay whose sweep takes only rows older than an hour: what it publishes came
        // from memory. A row left behind a minute ago by a writer that stopped stays.
        try await Self.withRelay(settings, sweepAge: .seconds(3600), fresh: true) { resources in
            let (database, logger) = (resources.database, resources.logger)
            _ = try await database.withConnection { try await Outbox.insert([leftBehind.row], on: $0, logger: logger) }
            try await database.query("update outbox set created_at = now() - interval '1 minute'")
            let handedOver = Self.event()
            let stored = try await database.withConnection { try await Outbox.insert([handedOver.row], on: $0, logger: logger) }
            resources.outboxDispatch.committed(stored)
            #expect(try await Self.next(from: queue, on: connection) == handedOver.event.metadata.eventID)
            try await eventually(.seconds(10), "the published row to be deleted") {
                try await Self.outbox(database) == [leftBehind.event.metadata.eventID]
            }
            // Committed just now and not handed over (its writer stopped, say).
            _ = try await database.withConnection { try await Outbox.insert([young.row], on: $0, logger: logger) }
        }

        // A relay (another replica, or this one restarted) whose sweep takes rows older than
        // 30 s: the row left behind goes, the young one stays for a later sweep.
        try await Self.withRelay(settings, sweepAge: .seconds(30), fresh: false) { resources in
            #expect(try await Self.next(from: queue, on: connection) == leftBehind.event.metadata.eventID)
            try await eventually(.seconds(10), "the swept row to be deleted") {
                try await Self.outbox(resources.database) == [young.event.metadata.eventID]
            }
        }
        #expect(try await connection.get(queue: queue) == nil, "nothing published twice, and the young row not at all")
        // What went to order-status in the test virtual host is no test's business.
        _ = try await connection.purgeQueue(Queues.orderStatus)
        await connection.close()
    }

    /// Runs an outbox relay, with its database client and publishing connection, on the test
    /// schema (dropped and migrated anew when `fresh`) while `body` runs.
    static func withRelay(_ settings: ServiceSettings, sweepAge: Duration, fresh: Bool, _ body: (ServiceResources) async throws -> Void) async throws {
        let resources = ServiceResources(settings: settings, environment: Self.environment, logger: Logger(label: "outbox-test"), metrics: PrometheusCollectorRegistry(), schema: Self.schema)
        let relay = OutboxRelay(resources: resources, pollInterval: .milliseconds(100), sweepAge: sweepAge)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await resources.database.run() }
            group.addTask { try await resources.publishing.run() }
            defer { group.cancelAll() }
            if fresh { try await resources.database.query("drop schema if exists outbox_test cascade") }
            try await Self.schema.migrate(resources.database, logger: resources.logger)
            group.addTask { try await relay.run() }
            try await body(resources)
        }
    }

    /// The `event_id` of the next message on `queue`, acknowledged.
    static func next(from queue: String, on connection: AMQPConnection) async throws -> UUID? {
        let found = Mutex<UUID?>(nil)
        try await eventually(.seconds(10), "a message on \(queue)") {
            guard let delivery = try await connection.get(queue: queue) else { return false }
            try delivery.ack()
            found.withLock { $0 = delivery.properties.messageID.flatMap(UUID.init(uuidString:)) }
            return true
        }
        return found.withLock { $0 }
    }

    /// The `event_id`s in the outbox.
    static func outbox(_ database: PostgresClient) async throws -> [UUID] {
        var ids: [UUID] = []
        for try await id in try await database.query("select event_id from outbox order by id").decode(UUID.self) { ids.append(id) }
        return ids
    }
}
