import AMQPClient
import Foundation
public import Logging
import Metrics
public import OrderEvents
public import PostgresNIO
public import ServiceLifecycle
import Synchronization
import Tracing

/// Events a service emits are written here in the transaction that caused them, and
/// published afterwards by `OutboxRelay`, so a committed change always gets its event out
/// and a rolled-back one never does.
public enum Outbox {
    static let tableStatements = [
        """
        create table outbox (
            id bigserial primary key,
            event_id uuid not null unique,
            event_type text not null,
            exchange text not null,
            routing_key text not null,
            body bytea not null,
            occurred_at timestamptz not null,
            created_at timestamptz not null default now(),
            sent_at timestamptz
        )
        """,
        "create index outbox_unsent on outbox (id) where sent_at is null",
        "create index outbox_sent_at on outbox (sent_at) where sent_at is not null",
    ]

    /// Changes to the runtime's tables after the first version, in order.
    static let laterMigrations = [
        ["alter table outbox add column traceparent text"],
    ]

    /// How many rows wait to be published.
    public static func backlog(in database: PostgresClient, logger: Logger) async throws -> Int {
        let rows = try await database.query("select count(*) from outbox where sent_at is null", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Adds `entries` to the outbox within the caller's transaction, in this order. Once the
    /// transaction commits, the caller tells the relay (`OutboxWakeUp.committed`).
    public static func enqueue<P: EventPayload>(_ entries: [Entry<P>], on connection: PostgresConnection, logger: Logger) async throws {
        try await insert(entries.map(\.row), on: connection, logger: logger)
    }

    /// Adds `rows`, in this order, with one statement.
    static func insert(_ rows: [Row], on connection: PostgresConnection, logger: Logger) async throws {
        let ids = rows.map(\.eventID)
        let (types, exchanges, routingKeys) = (rows.map(\.type.rawValue), rows.map(\.type.exchange), rows.map(\.type.routingKey))
        // Empty for none: PostgresNIO binds no arrays of optionals.
        let (bodies, times, traceparents) = (rows.map(\.body), rows.map(\.occurredAt), rows.map { $0.traceparent ?? "" })
        try await connection.query("""
            insert into outbox (event_id, event_type, exchange, routing_key, body, occurred_at, traceparent)
            select id, type, exchange, routing_key, body, at, nullif(traceparent, '')
            from unnest(
                \(ids)::uuid[], \(types)::text[], \(exchanges)::text[], \(routingKeys)::text[],
                \(bodies)::bytea[], \(times)::timestamptz[], \(traceparents)::text[]
            ) with ordinality as event(id, type, exchange, routing_key, body, at, traceparent, position)
            order by position
            """, logger: logger)
    }

    /// An event on its way out, with the trace its publication continues.
    public struct Entry<P: EventPayload>: Sendable {
        public let event: Event<P>
        public let traceparent: String?

        /// `event`, continuing the trace of the caller's span (none when no trace is active).
        public init(_ event: Event<P>, traceparent: String? = TraceParent.current) {
            self.event = event
            self.traceparent = traceparent
        }

        var row: Row {
            Row(eventID: event.metadata.eventID, type: P.eventType, body: ByteBuffer(bytes: event.encoded()), occurredAt: event.metadata.timestamp, traceparent: traceparent)
        }
    }

    /// One outbox row, of any event type.
    struct Row: Sendable {
        let eventID: UUID
        let type: EventType
        let body: ByteBuffer
        let occurredAt: Date
        let traceparent: String?
    }
}

/// The events a consumer's transaction emits: its handlers add them as they go, and the
/// runtime writes them all to the outbox with one statement before the commit.
public final class PendingOutbox: Sendable {
    private let rows = Mutex<[Outbox.Row]>([])

    /// Emits `event` when the transaction commits, continuing the current trace.
    public func add<P: EventPayload>(_ event: Event<P>) {
        let row = Outbox.Entry(event).row
        rows.withLock { $0.append(row) }
    }

    /// What was added, in order; empties the buffer.
    func take() -> [Outbox.Row] {
        rows.withLock { rows in
            defer { rows = [] }
            return rows
        }
    }
}

/// Publishes the outbox: takes the oldest unsent rows (`FOR UPDATE SKIP LOCKED`, so replicas
/// share the work without waiting on each other), publishes them in order, `mandatory`, with
/// publisher confirms, and marks sent, in the same transaction, those the broker confirmed.
/// Wakes when the service's own transactions commit outbox rows (`OutboxWakeUp`), with a
/// one-second poll for rows that another replica wrote and did not relay (it stopped, say);
/// on graceful shutdown it flushes what is left, then stops.
///
/// An event the broker returns as unroutable (its queue was deleted, say) is not sent: it
/// stays in the outbox, and its event type is held back (`HeldRoutes`) and tried again every
/// few seconds, until a queue is bound again and the broker takes it.
public final class OutboxRelay: Service {
    private let database: PostgresClient
    private let broker: ReconnectingConnection
    private let appID: String
    private let logger: Logger
    private let held: HeldRoutes
    private let health: ServiceHealth
    private let wakeUp: OutboxWakeUp
    private let timeToLive: [EventType: Duration]
    private let batchSize: Int
    private let pollInterval: Duration
    /// How long a batch may wait for its confirms while its rows stay locked; a broker that
    /// stops confirming (a resource alarm, say) then gets the batch again later.
    private let confirmTimeout: Duration = .seconds(15)
    /// How long a whole pass may take. After PostgreSQL came back, a connection request made
    /// while it was down has been seen to wait in PostgresNIO's pool for a minute while new
    /// requests were served; a pass that gives up asks again.
    private let passTimeout: Duration = .seconds(30)
    /// Publisher-confirm latency of a batch, and each event's time from commit to confirm.
    private let confirmDuration = Timer(label: "outbox_publish_confirm_duration_seconds")
    private let relayLag = Timer(label: "outbox_relay_lag_seconds")

    /// - Parameter timeToLive: per event type, how long the broker keeps a published event
    ///   waiting for a consumer before it dead-letters it as `expired` (none by default).
    public init(resources: ServiceResources, timeToLive: [EventType: Duration] = [:], batchSize: Int = 200, pollInterval: Duration = .seconds(1)) {
        database = resources.database
        broker = resources.publishing
        health = resources.health
        wakeUp = resources.outboxWakeUp
        appID = resources.settings.service
        logger = resources.logger
        held = HeldRoutes(health: resources.health, logger: resources.logger)
        self.timeToLive = timeToLive
        self.batchSize = batchSize
        self.pollInterval = pollInterval
    }

    public func run() async throws {
        let (interval, wakeUp) = (pollInterval, self.wakeUp)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.measureBacklog(every: .seconds(5)) }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    wakeUp.committed()
                }
            }
            wakeUp.committed()  // what was committed before the start
            for await _ in wakeUp.wakeups.cancelOnGracefulShutdown() {
                while await relayOnce() == batchSize {}
            }
            // Flush what committed before the shutdown, as far as the broker lets us.
            while !Task.isCancelled, await relayOnce() == batchSize {}
            group.cancelAll()
        }
    }

    /// Publishes one batch; returns how many rows it took (0 on failure, after logging). A
    /// pass that takes longer than 10 s is reported with the step it is waiting on, and one that
    /// takes longer than `passTimeout` is abandoned (its transaction rolls back) and retried.
    private func relayOnce() async -> Int {
        let step = RelayStep()
        return await withTaskGroup(of: Int?.self) { group in
            group.addTask {
                do {
                    return try await withTimeout(self.passTimeout) { try await self.relayBatch(step) }
                } catch {
                    self.logger.warning("outbox relay failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
                    try? await Task.sleep(for: .milliseconds(500))
                    return 0
                }
            }
            group.addTask {
                while (try? await Task.sleep(for: .seconds(10))) != nil {
                    self.logger.warning("outbox relay pass is slow", metadata: ["waiting_on": "\(step.current)"])
                }
                return nil
            }
            let sent = await group.next() ?? 0
            group.cancelAll()
            return sent ?? 0
        }
    }

    private func relayBatch(_ step: RelayStep) async throws -> Int {
        step.set("a broker connection")
        let connection = try await broker.connection()
        // While a resource alarm blocks the connection, nothing is published (and nothing
        // waits for confirms that cannot come); the next pass looks again.
        let blocked = connection.isBlocked
        health.report("publishing", blocked ? ServiceHealth.Condition("blocked by a broker resource alarm: events wait in the outbox", makesUnready: false) : nil)
        guard !blocked else { return 0 }
        let (batchSize, appID, logger, timeToLive) = (self.batchSize, self.appID, self.logger, self.timeToLive)
        let (confirmDuration, relayLag) = (self.confirmDuration, self.relayLag)
        step.set("a database connection")
        return try await database.withTransaction(logger: logger) { transaction in
            step.set("the unsent rows")
            var ids: [Int64] = []
            var messages: [OutgoingMessage] = []
            var spans: [any Span] = []
            defer { for span in spans { span.end() } }
            var types: [String] = []
            let rows = try await transaction.query("""
                select id, event_id, event_type, exchange, routing_key, body, occurred_at, traceparent from outbox
                where sent_at is null and event_type <> all(\(held.typesHeldBack())) order by id limit \(batchSize) for update skip locked
                """, logger: logger)
            for try await (id, eventID, type, exchange, routingKey, body, occurredAt, traceparent) in rows.decode((Int64, UUID, String, String, String, ByteBuffer, Date, String?).self) {
                ids.append(id)
                types.append(type)
                let properties = AMQPProperties(
                    contentType: "application/json", deliveryMode: .persistent,
                    expiration: EventType(rawValue: type).flatMap { timeToLive[$0] }.map { "\($0.wholeMilliseconds)" },
                    messageID: eventID.uuidString.lowercased(), timestamp: occurredAt, type: type, appID: appID
                )
                var message = OutgoingMessage(body: Data(body.readableBytesView), exchange: exchange, routingKey: routingKey, properties: properties, mandatory: true)
                if let traceparent { spans.append(Self.startPublishSpan(continuing: traceparent, for: &message)) }
                messages.append(message)
            }
            guard !messages.isEmpty else { return 0 }
            let batch = messages
            step.set("publisher confirms")
            let started = ContinuousClock.now
            let outcomes: [Result<Void, AMQPError>]
            do {
                outcomes = try await withTimeout(confirmTimeout) { try await connection.publishEach(batch) }
            } catch {
                for span in spans { span.recordError(error) }
                throw error
            }
            confirmDuration.record(duration: ContinuousClock.now - started)
            let confirmed = Date()
            var sent: [Int64] = []
            var routes: [HeldRoutes.Outcome] = []
            for (index, (message, outcome)) in zip(batch, outcomes).enumerated() {
                routes.append(HeldRoutes.Outcome(type: types[index], exchange: message.exchange, routingKey: message.routingKey, result: outcome))
                switch outcome {
                case .success:
                    sent.append(ids[index])
                    relayLag.recordSeconds(confirmed.timeIntervalSince(message.properties.timestamp ?? confirmed))
                case .failure(let error):
                    if case .unroutable = error { continue }
                    logger.warning("the broker did not take an outbox event; it stays for the next pass", metadata: [
                        "event_id": "\(message.properties.messageID ?? "")", "error": "\(error)",
                    ])
                }
            }
            held.update(after: routes)
            step.set("marking rows sent")
            if !sent.isEmpty {
                try await transaction.query("update outbox set sent_at = now() where id = any(\(sent))", logger: logger)
            }
            step.set("the commit")
            // A batch the broker took only in part is not followed at once by the next.
            return sent.count == messages.count ? messages.count : 0
        }
    }

    /// A producer span that continues the trace of the transaction that wrote the row, until
    /// the broker confirms; `message` carries its `traceparent` (without an exporter,
    /// `TraceParentPassThrough` gives back the stored one).
    private static func startPublishSpan(continuing traceparent: String, for message: inout OutgoingMessage) -> any Span {
        let span = startSpan("publish \(message.exchange)", context: TraceParent.context(continuing: traceparent), ofKind: .producer)
        span.attributes["messaging.system"] = "rabbitmq"
        span.attributes["messaging.destination.name"] = message.exchange
        span.attributes["messaging.rabbitmq.destination.routing_key"] = message.routingKey
        span.attributes["messaging.message.id"] = message.properties.messageID
        message.properties.headers = [TraceParent.header: .string(TraceParent.value(of: span.context) ?? traceparent)]
        return span
    }

    /// What a relay pass is waiting on, for the slow-pass warning.
    private final class RelayStep: Sendable {
        private let step = Mutex("starting")

        func set(_ value: String) { step.withLock { $0 = value } }

        var current: String { step.withLock { $0 } }
    }

    /// Sets the `outbox_backlog` gauge to the number of unsent rows, now and then.
    private func measureBacklog(every interval: Duration) async {
        let backlog = Gauge(label: "outbox_backlog")
        while !Task.isCancelled {
            if let count = try? await Outbox.backlog(in: database, logger: logger) { backlog.record(count) }
            try? await Task.sleep(for: interval)
        }
    }
}
