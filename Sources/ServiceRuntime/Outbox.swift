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
/// and a rolled-back one never does. A row is deleted once the broker confirmed its event.
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
        // Published rows are deleted, not marked: no index churns, nothing to prune.
        ["delete from outbox where sent_at is not null", "alter table outbox drop column sent_at"],
    ]

    /// How many rows wait to be published.
    public static func backlog(in database: PostgresClient, logger: Logger) async throws -> Int {
        let rows = try await database.query("select count(*) from outbox", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Runs `writes` and adds `entries`, in this order, with one statement: outside a
    /// transaction it commits by itself, with no `BEGIN` and `COMMIT` round trips around it.
    /// Once it has committed, the caller hands the rows to the relay (`OutboxDispatch.committed`).
    public static func enqueue<P: EventPayload, Writes: OutboxCompanion>(
        _ entries: [Entry<P>], after writes: Writes, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Stored] {
        let rows = entries.map(\.row)
        return try await stored(rows, from: connection.execute(InsertAfter(writes: writes, rows: rows), logger: logger))
    }

    /// Adds `rows`, in this order, with one statement; returns them with their ids.
    static func insert(_ rows: [Row], on connection: PostgresConnection, logger: Logger) async throws -> [Stored] {
        try await stored(rows, from: connection.execute(Insert(rows: rows), logger: logger))
    }

    private static func stored(_ rows: [Row], from inserted: AsyncThrowingMapSequence<PostgresRowSequence, (Int64, UUID)>) async throws -> [Stored] {
        var rowIDs: [UUID: Int64] = [:]
        for try await (rowID, eventID) in inserted { rowIDs[eventID] = rowID }
        return rows.compactMap { row in rowIDs[row.eventID].map { Stored(id: $0, row: row) } }
    }

    /// The insert of outbox rows, its seven parameters numbered from `first`.
    static func insertSQL(parametersFrom first: Int) -> String {
        let types = ["uuid", "text", "text", "text", "bytea", "timestamptz", "text"]
        let arrays = types.enumerated().map { "$\(first + $0.offset)::\($0.element)[]" }.joined(separator: ", ")
        return """
            insert into outbox (event_id, event_type, exchange, routing_key, body, occurred_at, traceparent)
            select id, type, exchange, routing_key, body, at, nullif(traceparent, '')
            from unnest(\(arrays))
                with ordinality as event(id, type, exchange, routing_key, body, at, traceparent, position)
            order by position
            returning id, event_id
            """
    }

    /// The values of `rows` for `insertSQL`. Empty for none: PostgresNIO binds no arrays of optionals.
    static func values(of rows: [Row]) -> [any PostgresDynamicTypeEncodable] {
        [
            rows.map(\.eventID), rows.map(\.type.rawValue), rows.map(\.type.exchange), rows.map(\.type.routingKey),
            rows.map(\.body), rows.map(\.occurredAt), rows.map { $0.traceparent ?? "" },
        ]
    }

    struct Insert: PostgresPreparedStatement {
        static let sql = insertSQL(parametersFrom: 1)
        let rows: [Row]

        func makeBindings() -> PostgresBindings { .of(values(of: rows)) }

        func decodeRow(_ row: PostgresRow) throws -> (Int64, UUID) { try row.decode((Int64, UUID).self) }
    }

    struct InsertAfter<Writes: OutboxCompanion>: PostgresPreparedStatement {
        static var sql: String { "with \(Writes.clauses)\n" + insertSQL(parametersFrom: Writes.parameterCount + 1) }
        let writes: Writes
        let rows: [Row]

        func makeBindings() -> PostgresBindings { .of(writes.values + values(of: rows)) }

        func decodeRow(_ row: PostgresRow) throws -> (Int64, UUID) { try row.decode((Int64, UUID).self) }
    }

    /// Deletes the rows whose events the broker confirmed.
    struct Delete: PostgresPreparedStatement {
        typealias Row = ()
        static let sql = "delete from outbox where id = any($1::bigint[])"
        let ids: [Int64]

        func makeBindings() -> PostgresBindings { .of(ids) }

        func decodeRow(_ row: PostgresRow) throws {}
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

    /// A row as stored, with its id.
    public struct Stored: Sendable {
        let id: Int64
        let row: Row
    }
}

/// Writes that go into the statement that adds the outbox rows they cause: data-modifying
/// `WITH` clauses (`name as (insert …), …`) with parameters `$1` to `$parameterCount`.
public protocol OutboxCompanion: Sendable {
    static var clauses: String { get }
    static var parameterCount: Int { get }
    /// The parameters' values, in order.
    var values: [any PostgresDynamicTypeEncodable] { get }
}

/// The events a consumer's transaction emits: its handlers add them as they go, and the
/// runtime writes them all to the outbox with one statement before the commit. What must
/// happen only once the transaction has committed (counting an effect in a metric) waits
/// here too.
public final class PendingOutbox: Sendable {
    private let rows = Mutex<[Outbox.Row]>([])
    private let commitActions = Mutex<[@Sendable () -> Void]>([])

    /// Emits `event` when the transaction commits, continuing the trace of the event that
    /// caused it.
    public func add<P: EventPayload>(_ event: Event<P>, causedBy cause: PendingEvent) {
        let row = Outbox.Entry(event, traceparent: TraceParent.value(of: cause.context)).row
        rows.withLock { $0.append(row) }
    }

    /// Runs `action` after the transaction commits, and never if it does not.
    public func afterCommit(_ action: @escaping @Sendable () -> Void) {
        commitActions.withLock { $0.append(action) }
    }

    /// What was added, in order; empties the buffer.
    func take() -> [Outbox.Row] {
        rows.withLock { rows in
            defer { rows = [] }
            return rows
        }
    }

    /// Runs the actions that waited for the commit.
    func committed() {
        for action in commitActions.withLock({ $0 }) { action() }
    }
}

/// Publishes the outbox, `mandatory`, with publisher confirms, and deletes each row whose event
/// the broker confirmed. Two paths:
///
/// - **Dispatch**: the rows a transaction of this service committed come from memory
///   (`OutboxDispatch`), are published at once, and deleted with one statement per batch.
/// - **Sweep**: every `pollInterval`, rows older than `sweepAge` (their writer stopped before
///   publishing them, their publication failed, their route was held) are taken with
///   `FOR UPDATE SKIP LOCKED`, so replicas share them without waiting on each other,
///   published, and deleted in the same transaction. A row that a slow dispatch still holds
///   after `sweepAge` may go out twice; consumers drop the duplicate by its `event_id`.
///
/// An event the broker returns as unroutable (its queue was deleted, say) stays in the
/// outbox, and its event type is held back (`HeldRoutes`) and tried again every few seconds,
/// until a queue is bound again and the broker takes it. On graceful shutdown the relay
/// publishes what waits in memory, then stops.
public final class OutboxRelay: Service {
    private let database: PostgresClient
    private let broker: ReconnectingConnection
    private let appID: String
    private let logger: Logger
    private let held: HeldRoutes
    private let health: ServiceHealth
    private let dispatch: OutboxDispatch
    private let timeToLive: [EventType: Duration]
    private let batchSize: Int
    private let pollInterval: Duration
    private let sweepAge: Duration
    /// How long a batch may wait for its confirms; a broker that stops confirming (a resource
    /// alarm, say) leaves its rows to a later sweep.
    private let confirmTimeout: Duration = .seconds(15)
    /// How long a sweep may take. After PostgreSQL came back, a connection request made while
    /// it was down has been seen to wait in PostgresNIO's pool for a minute while new requests
    /// were served; a sweep that gives up asks again.
    private let sweepTimeout: Duration = .seconds(30)
    /// Publisher-confirm latency of a batch, and each event's time from commit to confirm.
    private let confirmDuration = Timer(label: "outbox_publish_confirm_duration_seconds")
    private let relayLag = Timer(label: "outbox_relay_lag_seconds")

    /// - Parameter timeToLive: per event type, how long the broker keeps a published event
    ///   waiting for a consumer before it dead-letters it as `expired` (none by default).
    public init(
        resources: ServiceResources, timeToLive: [EventType: Duration] = [:], batchSize: Int = 200,
        pollInterval: Duration = .seconds(1), sweepAge: Duration = .seconds(10)
    ) {
        database = resources.database
        broker = resources.publishing
        health = resources.health
        dispatch = resources.outboxDispatch
        appID = resources.settings.service
        logger = resources.logger
        held = HeldRoutes(health: resources.health, logger: resources.logger)
        self.timeToLive = timeToLive
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.sweepAge = sweepAge
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.measureBacklog(every: .seconds(5)) }
            group.addTask { await self.sweep() }
            for await _ in dispatch.ready.cancelOnGracefulShutdown() {
                await dispatchWaiting()
            }
            await dispatchWaiting()  // what committed before the shutdown
            group.cancelAll()
        }
    }

    // MARK: Dispatch

    private func dispatchWaiting() async {
        while !Task.isCancelled {
            let rows = dispatch.take(upTo: batchSize)
            guard !rows.isEmpty else { return }
            do {
                try await dispatch(rows)
            } catch {
                logger.warning("could not publish committed outbox events; the sweep takes them later", metadata: [
                    "events": "\(rows.count)", "error": "\(String(reflecting: error))",
                ])
            }
        }
    }

    /// Publishes rows just committed and deletes those the broker confirmed. Rows the broker
    /// did not take for now (their connection was lost before the confirm, a broker node
    /// died; or it nacked them, a quorum queue electing a new leader) are published again on
    /// the connection there is then, after 0.5 s, 1 s and 2 s, rather than wait for the sweep.
    private func dispatch(_ rows: [Outbox.Stored]) async throws {
        let heldBack = Set(held.typesHeldBack())
        var pending = rows.filter { !heldBack.contains($0.row.type.rawValue) }
        var attempt = 0
        while !pending.isEmpty, attempt < Self.dispatchTries {
            if attempt > 0 { try await Task.sleep(for: .milliseconds(500) * (1 << (attempt - 1))) }
            attempt += 1
            guard let connection = try await unblockedConnection() else { return }
            let sent: [Int64], retryable: [Outbox.Stored]
            do {
                (sent, retryable) = try await publish(pending, on: connection)
            } catch let error as AMQPError where error.isConnectionLoss {
                (sent, retryable) = ([], pending)  // the connection was gone before the batch reached it
            }
            if !sent.isEmpty {
                try await withTimeout(sweepTimeout) { [database, logger] in
                    _ = try await database.withConnectionOnItsLoop { try await $0.execute(Outbox.Delete(ids: sent), logger: logger) }
                }
            }
            pending = retryable
        }
    }

    /// How many times a dispatched batch is published before what is left waits for the sweep.
    static let dispatchTries = 4

    // MARK: Sweep

    private func sweep() async {
        while (try? await Task.sleep(for: pollInterval)) != nil {
            while await sweepOnce() == batchSize {}
        }
    }

    /// Sweeps one batch; returns how many rows it took (0 on failure, after logging). A
    /// sweep that takes longer than `sweepTimeout` is abandoned (its transaction rolls back).
    private func sweepOnce() async -> Int {
        do {
            return try await withTimeout(sweepTimeout) { try await self.sweepBatch() }
        } catch {
            logger.warning("outbox sweep failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
            return 0
        }
    }

    private func sweepBatch() async throws -> Int {
        guard let connection = try await unblockedConnection() else { return 0 }
        let (batchSize, logger, held) = (self.batchSize, self.logger, self.held)
        let age = Double(sweepAge.wholeMilliseconds) / 1000
        return try await database.withTransactionOnItsLoop(logger: logger) { transaction in
            let found = try await transaction.query("""
                select id, event_id, event_type, body, occurred_at, traceparent from outbox
                where created_at < now() - make_interval(secs => \(age)) and event_type <> all(\(held.typesHeldBack()))
                order by id limit \(batchSize) for update skip locked
                """, logger: logger)
            var rows: [Outbox.Stored] = []
            for try await (id, eventID, typeName, body, occurredAt, traceparent) in found.decode((Int64, UUID, String, ByteBuffer, Date, String?).self) {
                guard let type = EventType(rawValue: typeName) else {
                    logger.error("an outbox row of an unknown event type stays unsent", metadata: ["id": "\(id)", "event_type": "\(typeName)"])
                    continue
                }
                rows.append(Outbox.Stored(id: id, row: Outbox.Row(eventID: eventID, type: type, body: body, occurredAt: occurredAt, traceparent: traceparent)))
            }
            guard !rows.isEmpty else { return 0 }
            let sent = try await self.publish(rows, on: connection).sent
            if !sent.isEmpty { _ = try await transaction.execute(Outbox.Delete(ids: sent), logger: logger) }
            // A batch the broker took only in part is not followed at once by the next.
            return sent.count == rows.count ? rows.count : 0
        }
    }

    // MARK: Publishing

    /// The publishing connection, or nil while a resource alarm blocks it: then nothing is
    /// published (and nothing waits for confirms that cannot come); the rows wait in the outbox.
    private func unblockedConnection() async throws -> AMQPConnection? {
        let connection = try await broker.connection()
        let blocked = connection.isBlocked
        health.report("publishing", blocked ? ServiceHealth.Condition("blocked by a broker resource alarm: events wait in the outbox", makesUnready: false) : nil)
        return blocked ? nil : connection
    }

    /// Publishes `rows` in order; returns the ids of those the broker confirmed, and the rows
    /// it did not take for now: nacked, or their connection lost before the confirm.
    private func publish(_ rows: [Outbox.Stored], on connection: AMQPConnection) async throws -> (sent: [Int64], retryable: [Outbox.Stored]) {
        var spans: [any Span] = []
        defer { for span in spans { span.end() } }
        let messages = rows.map { stored in
            let row = stored.row
            let properties = AMQPProperties(
                contentType: "application/json", deliveryMode: .persistent,
                expiration: timeToLive[row.type].map { "\($0.wholeMilliseconds)" },
                messageID: row.eventID.uuidString.lowercased(), timestamp: row.occurredAt, type: row.type.rawValue, appID: appID
            )
            var message = OutgoingMessage(body: Data(row.body.readableBytesView), exchange: row.type.exchange, routingKey: row.type.routingKey, properties: properties, mandatory: true)
            if let traceparent = row.traceparent { spans.append(Self.startPublishSpan(continuing: traceparent, for: &message)) }
            return message
        }
        let started = ContinuousClock.now
        let outcomes: [Result<Void, AMQPError>]
        do {
            outcomes = try await withTimeout(confirmTimeout) { try await connection.publishEach(messages) }
        } catch {
            for span in spans { span.recordError(error) }
            throw error
        }
        confirmDuration.record(duration: ContinuousClock.now - started)
        let confirmed = Date()
        var sent: [Int64] = []
        var retryable: [Outbox.Stored] = []
        var routes: [HeldRoutes.Outcome] = []
        for (stored, (message, outcome)) in zip(rows, zip(messages, outcomes)) {
            routes.append(HeldRoutes.Outcome(type: stored.row.type.rawValue, exchange: message.exchange, routingKey: message.routingKey, result: outcome))
            switch outcome {
            case .success:
                sent.append(stored.id)
                relayLag.recordSeconds(confirmed.timeIntervalSince(stored.row.occurredAt))
            case .failure(.publishNacked):
                retryable.append(stored)
            case .failure(let error) where error.isConnectionLoss:
                retryable.append(stored)
            case .failure(let error):
                if case .unroutable = error { continue }
                logger.warning("the broker did not take an outbox event; it stays for a later sweep", metadata: [
                    "event_id": "\(message.properties.messageID ?? "")", "error": "\(error)",
                ])
            }
        }
        held.update(after: routes)
        if let first = retryable.first {
            logger.warning("the broker did not take some outbox events for now (nacked, or the connection lost); they are tried again", metadata: [
                "events": "\(retryable.count)", "first_event_id": "\(first.row.eventID.uuidString.lowercased())",
            ])
        }
        return (sent, retryable)
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

    /// Sets the `outbox_backlog` gauge to the number of rows waiting, now and then.
    private func measureBacklog(every interval: Duration) async {
        let backlog = Gauge(label: "outbox_backlog")
        while !Task.isCancelled {
            if let count = try? await Outbox.backlog(in: database, logger: logger) { backlog.record(count) }
            try? await Task.sleep(for: interval)
        }
    }
}
