public import Foundation
public import Logging
import Synchronization

/// One AMQP 0-9-1 connection to RabbitMQ, over librabbitmq.
///
/// All of the connection's C calls run on a thread it owns; this API is `Sendable` and
/// `async`, and never blocks Swift's cooperative thread pool. A connection that is lost stays
/// lost: pending publishes fail and consumers end with `AMQPError.connectionClosed`.
/// `ReconnectingConnection` builds recovery on top.
public final class AMQPConnection: Sendable {
    public let configuration: AMQPConfiguration
    /// What the broker said about itself when the connection opened (`product`, `version`, …).
    public let serverProperties: AMQPTable
    let executor: ConnectionExecutor

    private init(configuration: AMQPConfiguration, serverProperties: AMQPTable, executor: ConnectionExecutor) {
        self.configuration = configuration
        self.serverProperties = serverProperties
        self.executor = executor
    }

    /// The broker's major version (3 for RabbitMQ 3.13, 4 for 4.1), when it says.
    public var brokerMajorVersion: Int? {
        serverProperties["version"]?.stringValue?.split(separator: ".").first.flatMap { Int($0) }
    }

    /// Opens a connection and logs in.
    public static func connect(_ configuration: AMQPConfiguration, logger: Logger = Logger(label: "amqp")) async throws -> AMQPConnection {
        let executor = try ConnectionExecutor()
        let serverProperties = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<AMQPTable, any Error>) in
            executor.start(configuration, logger: logger) { continuation.resume(with: $0.mapError { $0 }) }
        }
        return AMQPConnection(configuration: configuration, serverProperties: serverProperties, executor: executor)
    }

    /// Connects to the first of `nodes` that answers, trying each in turn; throws what the last
    /// one answered when none does.
    public static func connect(toFirstOf nodes: [AMQPConfiguration], logger: Logger = Logger(label: "amqp")) async throws -> AMQPConnection {
        var failure: any Error = AMQPError.connectionClosed(code: nil, reason: "no node to connect to")
        for node in nodes {
            do {
                return try await connect(node, logger: logger)
            } catch {
                failure = error
            }
        }
        throw failure
    }

    /// Whether the connection is still usable.
    public var isOpen: Bool { executor.closeError == nil }

    /// Waits until the connection is finished, and returns why.
    public func closed() async -> AMQPError { await executor.closed() }

    /// Closes gracefully: waits (up to `timeout`) until every outstanding publish is
    /// confirmed, then closes the connection. Consumers end normally.
    public func close(timeout: Duration = .seconds(10)) async {
        await withUnsafeContinuation { (done: UnsafeContinuation<Void, Never>) in
            beginClose(timeout: timeout) { done.resume() }
        }
    }

    /// Runs `body` with this connection, then closes it gracefully, whether `body` returned or
    /// threw (a close also hands back whatever `body` got and did not settle).
    public func closing<T>(after body: (AMQPConnection) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }

    /// Starts the same graceful close without waiting for it; `closed()` tells when it is done.
    /// A connection that has not closed a few seconds after `timeout` (its thread held in a
    /// write to a broker that stopped reading) has its socket shut down.
    public func beginClose(timeout: Duration = .seconds(10), done: @escaping @Sendable () -> Void = {}) {
        executor.submit(Command(
            run: { core in core.beginClose(timeout: timeout, done: done) },
            fail: { _ in done() }
        ))
        Task { [executor] in
            try await Task.sleep(for: timeout + .seconds(2))
            executor.abort()
        }
    }

    /// Whether the broker has blocked the connection (`connection.blocked`, a memory or disk
    /// alarm): what it publishes waits in the broker until the alarm clears.
    public var isBlocked: Bool { executor.isBlocked }

    // MARK: Topology

    public func declareExchange(
        _ name: String, type: ExchangeType = .topic, durable: Bool = true, autoDelete: Bool = false,
        isInternal: Bool = false, arguments: AMQPTable = [:]
    ) async throws {
        try await executor.perform { core throws(AMQPError) in
            try core.declareExchange(name, type: type.rawValue, durable: durable, autoDelete: autoDelete, isInternal: isInternal, arguments: arguments)
        }
    }

    @discardableResult
    public func declareQueue(
        _ name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
        arguments: AMQPTable = [:]
    ) async throws -> QueueState {
        try await executor.perform { core throws(AMQPError) in
            try core.declareQueue(name, passive: false, durable: durable, exclusive: exclusive, autoDelete: autoDelete, arguments: arguments)
        }
    }

    /// A passive declare: the queue's message and consumer counts, or 404 if it does not exist.
    public func inspectQueue(_ name: String) async throws -> QueueState {
        try await executor.perform { core throws(AMQPError) in
            try core.declareQueue(name, passive: true, durable: false, exclusive: false, autoDelete: false, arguments: [:])
        }
    }

    public func bindQueue(_ queue: String, exchange: String, routingKey: String, arguments: AMQPTable = [:]) async throws {
        try await executor.perform { core throws(AMQPError) in
            try core.bindQueue(queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
        }
    }

    /// Removes every ready message from the queue and returns how many there were.
    @discardableResult
    public func purgeQueue(_ name: String) async throws -> UInt32 {
        try await executor.perform { core throws(AMQPError) in try core.purgeQueue(name) }
    }

    @discardableResult
    public func deleteQueue(_ name: String) async throws -> UInt32 {
        try await executor.perform { core throws(AMQPError) in try core.deleteQueue(name) }
    }

    public func deleteExchange(_ name: String) async throws {
        try await executor.perform { core throws(AMQPError) in try core.deleteExchange(name) }
    }

    // MARK: Messages

    /// Publishes and returns once the broker has confirmed the message. Throws
    /// `AMQPError.publishNacked` when the broker refuses it and `.unroutable` when a mandatory
    /// message reaches no queue. Concurrent calls are pipelined on one channel.
    public func publish(
        _ body: Data, exchange: String, routingKey: String,
        properties: AMQPProperties = AMQPProperties(), mandatory: Bool = false
    ) async throws {
        try await publish([OutgoingMessage(body: body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: mandatory)])
    }

    /// Publishes the messages in this order, pipelined, and returns once the broker has
    /// confirmed every one; throws the first refusal or failure otherwise. Cancelling the
    /// task stops the wait with `CancellationError`: the messages may still be confirmed later,
    /// so a caller that publishes again gets at-least-once delivery, never a loss.
    public func publish(_ messages: [OutgoingMessage]) async throws {
        if let failure = try await publishEach(messages).lazy.compactMap(\.failure).first { throw failure }
    }

    /// Publishes the messages in this order, pipelined, and returns, once the broker has
    /// answered for every one, what became of each: confirmed, or why not (nacked, returned as
    /// unroutable, the connection lost). Throws only when the batch never reached the
    /// connection, or `CancellationError` when the wait is cancelled (as `publish`).
    public func publishEach(_ messages: [OutgoingMessage]) async throws -> [Result<Void, AMQPError>] {
        guard !messages.isEmpty else { return [] }
        let outcome = BatchOutcome(count: messages.count)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<[Result<Void, AMQPError>], any Error>) in
                guard outcome.wait(with: continuation) else { return }
                executor.submit(Command(
                    run: { core in core.publish(messages, completion: outcome.record) },
                    fail: { outcome.finish(throwing: $0) }
                ))
            }
        } onCancel: {
            outcome.finish(throwing: CancellationError())
        }
    }

    /// Starts a consumer with manual acknowledgements and at most `prefetch` unacknowledged
    /// deliveries.
    public func consume(queue: String, prefetch: UInt16) async throws -> AMQPConsumer {
        let (tag, channel, deliveries) = try await executor.perform { [self] core throws(AMQPError) in
            try core.consume(queue: queue, prefetch: prefetch, connection: self)
        }
        return AMQPConsumer(queue: queue, tag: tag, connection: self, channel: channel, deliveries: deliveries)
    }

    /// basic.get: the next message of the queue, not yet acknowledged, or nil when it is empty.
    public func get(queue: String) async throws -> AMQPDelivery? {
        try await executor.perform { [self] core throws(AMQPError) in try core.get(queue: queue, connection: self) }
    }
}

/// A message to publish.
public struct OutgoingMessage: Sendable {
    public var body: Data
    public var exchange: String
    public var routingKey: String
    public var properties: AMQPProperties
    public var mandatory: Bool

    public init(body: Data, exchange: String, routingKey: String, properties: AMQPProperties = AMQPProperties(), mandatory: Bool = false) {
        self.body = body
        self.exchange = exchange
        self.routingKey = routingKey
        self.properties = properties
        self.mandatory = mandatory
    }
}

/// Gathers the confirms of a batch and resumes its caller exactly once: with every message's
/// result when the last is in, or with an error when the wait is cancelled or the batch never
/// ran, whichever comes first.
private final class BatchOutcome: Sendable {
    private struct State {
        var results: [Result<Void, AMQPError>?]
        var remaining: Int
        var continuation: UnsafeContinuation<[Result<Void, AMQPError>], any Error>?
        /// Set once the outcome is decided; later confirms change nothing.
        var decided: Result<[Result<Void, AMQPError>], any Error>?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
    }

    /// Registers the waiting caller; false when the outcome was decided (cancelled) already.
    func wait(with continuation: UnsafeContinuation<[Result<Void, AMQPError>], any Error>) -> Bool {
        let decided: Result<[Result<Void, AMQPError>], any Error>? = state.withLock { state in
            if let decided = state.decided { return decided }
            state.continuation = continuation
            return nil
        }
        guard let decided else { return true }
        continuation.resume(with: decided)
        return false
    }

    @Sendable func record(_ index: Int, _ result: Result<Void, AMQPError>) {
        decide { state in
            guard state.results[index] == nil else { return nil }
            state.results[index] = result
            state.remaining -= 1
            guard state.remaining == 0 else { return nil }
            return .success(state.results.map { $0! })
        }
    }

    func finish(throwing error: any Error) {
        decide { _ in .failure(error) }
    }

    private func decide(_ update: (inout State) -> Result<[Result<Void, AMQPError>], any Error>?) {
        let resume: (UnsafeContinuation<[Result<Void, AMQPError>], any Error>, Result<[Result<Void, AMQPError>], any Error>)? = state.withLock { state in
            guard state.decided == nil, let decided = update(&state) else { return nil }
            state.decided = decided
            defer { state.continuation = nil }
            return state.continuation.map { ($0, decided) }
        }
        if let (continuation, decided) = resume { continuation.resume(with: decided) }
    }
}

extension Result {
    /// The error, when this is a failure.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

public enum ExchangeType: String, Sendable {
    case direct, fanout, topic, headers
}
