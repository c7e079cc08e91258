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
    let executor: ConnectionExecutor

    private init(configuration: AMQPConfiguration, executor: ConnectionExecutor) {
        self.configuration = configuration
        self.executor = executor
    }

    /// Opens a connection and logs in.
    public static func connect(_ configuration: AMQPConfiguration, logger: Logger = Logger(label: "amqp")) async throws -> AMQPConnection {
        let executor = try ConnectionExecutor()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            executor.start(configuration, logger: logger) { continuation.resume(with: $0) }
        }
        return AMQPConnection(configuration: configuration, executor: executor)
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

    /// Starts the same graceful close without waiting for it; `closed()` tells when it is done.
    public func beginClose(timeout: Duration = .seconds(10), done: @escaping @Sendable () -> Void = {}) {
        executor.submit(Command(
            run: { core in core.beginClose(timeout: timeout, done: done) },
            fail: { _ in done() }
        ))
    }

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
        guard !messages.isEmpty else { return }
        let outcome = BatchOutcome(count: messages.count)
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
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

/// Gathers the confirms of a batch and resumes its caller exactly once: with the first
/// error, when every confirm is in, or when the wait is cancelled, whichever comes first.
private final class BatchOutcome: Sendable {
    private struct State {
        var remaining: Int
        var firstError: (any Error)?
        var continuation: UnsafeContinuation<Void, any Error>?
        /// Set once the outcome is decided; later confirms change nothing.
        var result: Result<Void, any Error>?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(remaining: count))
    }

    /// Registers the waiting caller; false when the outcome was decided (cancelled) already.
    func wait(with continuation: UnsafeContinuation<Void, any Error>) -> Bool {
        let decided: Result<Void, any Error>? = state.withLock { state in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        guard let decided else { return true }
        continuation.resume(with: decided)
        return false
    }

    @Sendable func record(_ result: Result<Void, AMQPError>) {
        decide { state in
            if case .failure(let error) = result, state.firstError == nil { state.firstError = error }
            state.remaining -= 1
            guard state.remaining == 0 else { return nil }
            return state.firstError.map { .failure($0) } ?? .success(())
        }
    }

    func finish(throwing error: any Error) {
        decide { _ in .failure(error) }
    }

    private func decide(_ update: (inout State) -> Result<Void, any Error>?) {
        let resume: (UnsafeContinuation<Void, any Error>, Result<Void, any Error>)? = state.withLock { state in
            guard state.result == nil, let result = update(&state) else { return nil }
            state.result = result
            defer { state.continuation = nil }
            return state.continuation.map { ($0, result) }
        }
        if let (continuation, result) = resume { continuation.resume(with: result) }
    }
}

public enum ExchangeType: String, Sendable {
    case direct, fanout, topic, headers
}
