import AMQPClient
import Foundation
import Logging
import Metrics
public import OrderEvents
import PostgresNIO
public import ServiceLifecycle
import Tracing

/// Publishes the outbox, `mandatory`, with publisher confirms, and deletes each row whose event
/// the broker confirmed. Two paths:
///
/// - **Dispatch**: the rows a transaction of this service committed come from memory
///   (`OutboxDispatch`) and are published at once. The rows the broker confirmed are deleted
///   `deleteDelay` after the first of them, with one statement for all the batches confirmed
///   meanwhile: a delete is not on any order's way, and one commit for many saves the
///   database a flush for each. A row whose delete a crash forestalled goes out again with
///   the sweep; consumers drop the copy by its `event_id`.
/// - **Sweep**: every `pollInterval`, rows older than `sweepAge` (their writer stopped before
///   publishing them, their publication failed, their route was held) are taken with
///   `FOR UPDATE SKIP LOCKED`, so replicas share them without waiting on each other,
///   published, and deleted in the same transaction. A row that a slow dispatch still holds
///   after `sweepAge` may go out twice; consumers drop the duplicate by its `event_id`.
///
/// An event the broker returns as unroutable (its queue was deleted, say) stays in the
/// outbox, and its event type is held back (`HeldRoutes`) and tried again every few seconds,
/// until a queue is bound again and the broker takes it. An event whose exchange is gone (an
/// operator deleted it, and its bindings with it) makes the relay declare the topology again
/// and publish it anew. On graceful shutdown the relay
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
    private let deleteDelay: Duration = .milliseconds(100)
    /// The ids of the rows whose events the broker confirmed, waiting to be deleted together;
    /// the deleter sleeps while none wait.
    private let confirmed = Handoff<Int64>()
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
            group.addTask { await self.deleteConfirmed() }
            for await _ in dispatch.ready.cancelOnGracefulShutdown() {
                await dispatchWaiting()
            }
            await dispatchWaiting()  // what committed before the shutdown
            await deleteConfirmedNow()
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
    /// died; or it nacked them, a quorum queue electing a new leader; or their exchange was
    /// gone, and the topology has been declared again) are published again on
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
            confirmed.add(sent)
            pending = retryable
        }
    }

    /// How many times a dispatched batch is published before what is left waits for the sweep.
    static let dispatchTries = 4

    private func deleteConfirmed() async {
        for await _ in confirmed.ready {
            guard (try? await Task.sleep(for: deleteDelay)) != nil else { return }
            await deleteConfirmedNow()
        }
    }

    /// Deletes the rows confirmed so far; those it could not delete are tried again a
    /// `pollInterval` later.
    private func deleteConfirmedNow() async {
        let ids = confirmed.take()
        guard !ids.isEmpty else { return }
        do {
            try await withTimeout(sweepTimeout) { [database, logger] in
                _ = try await database.withConnectionOnItsLoop { try await $0.execute(Outbox.Delete(ids: ids), logger: logger) }
            }
        } catch {
            logger.warning("could not delete published outbox rows; retrying", metadata: ["rows": "\(ids.count)", "error": "\(String(reflecting: error))"])
            try? await Task.sleep(for: pollInterval)
            confirmed.add(ids)
        }
    }

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
    /// it did not take for now: nacked, their connection lost before the confirm, or their
    /// exchange gone (then the topology is declared again first).
    private func publish(_ rows: [Outbox.Stored], on connection: AMQPConnection) async throws -> (sent: [Int64], retryable: [Outbox.Stored]) {
        var spans: [any Span] = []
        defer { for span in spans { span.end() } }
        let messages = rows.map { stored in
            let row = stored.row
            let properties = AMQPProperties(
                contentType: "application/json", deliveryMode: .persistent,
                expiration: timeToLive[row.type].map { "\($0.wholeMilliseconds)" },
                messageID: row.eventID.lowercasedText, timestamp: row.occurredAt, type: row.type.rawValue, appID: appID
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
        var missingExchange: AMQPError?
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
            case .failure(let error) where error.isNotFound:
                retryable.append(stored)
                missingExchange = error
            case .failure(let error):
                if error.isUnroutable { continue }
                logger.warning("the broker did not take an outbox event; it stays for a later sweep", metadata: [
                    "event_id": "\(message.properties.messageID ?? "")", "error": "\(error)",
                ])
            }
        }
        held.update(after: routes)
        if let missingExchange { await broker.restoreTopology(after: missingExchange, logger: logger) }
        if let first = retryable.first {
            logger.warning("the broker did not take some outbox events for now (nacked, the connection lost, or their exchange gone); they are tried again", metadata: [
                "events": "\(retryable.count)", "first_event_id": "\(first.row.eventID.lowercasedText)",
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
