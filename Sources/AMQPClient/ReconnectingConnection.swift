public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// A connection that comes back. `run()` (a `Service`) keeps one `AMQPConnection` open to
/// one of `nodes` (the nodes of a cluster, or one broker): when it is lost, it reconnects to
/// the next node, and the next, trying each once before it waits (capped exponential backoff
/// with jitter) and goes round again; then it runs `onConnect` again (declare the topology
/// there) and hands the new connection to whoever waits in `connection()`. What was
/// unacknowledged on a lost connection is redelivered by the broker (with `redelivered` set);
/// what was published and not confirmed is for the publisher to publish again.
///
/// An error from `onConnect` that is not an `AMQPError` cannot heal by reconnecting (a queue
/// the broker has with other arguments, say): `run()` throws it and the connection stops.
public final class ReconnectingConnection: Service, Sendable {
    private struct State {
        var current: AMQPConnection?
        var waiters: [UnsafeContinuation<AMQPConnection, any Error>] = []
        var stopped = false
        /// The index in `nodes` of the node connected to, or tried last.
        var node = 0
    }

    /// The nodes to connect to, tried in this order, starting over after the last.
    public let nodes: [AMQPConfiguration]
    private let backoff: Backoff
    private let logger: Logger
    private let onConnect: @Sendable (AMQPConnection) async throws -> Void
    private let state = Mutex(State())
    private let connections = Atomic<Int>(0)
    /// `amqp_reconnects_total`: connections opened after the first one was lost.
    private let reconnects = Counter(label: "amqp_reconnects_total")

    /// `nodes` must not be empty.
    public init(
        nodes: [AMQPConfiguration],
        backoff: Backoff = Backoff(),
        logger: Logger,
        onConnect: @escaping @Sendable (AMQPConnection) async throws -> Void = { _ in }
    ) {
        precondition(!nodes.isEmpty, "a ReconnectingConnection needs a node to connect to")
        self.nodes = nodes
        self.backoff = backoff
        self.logger = logger
        self.onConnect = onConnect
    }

    /// How many times a connection was established (1 after the first, more after recoveries).
    public var connectionCount: Int { connections.load(ordering: .relaxed) }

    /// The node connected to now, or the one tried last.
    public var node: AMQPConfiguration { nodes[state.withLock(\.node)] }

    /// Whether a connection is open right now.
    public var isConnected: Bool { state.withLock { $0.current?.isOpen ?? false } }

    /// Whether `run()` has ended, so no connection will come any more.
    public var isStopped: Bool { state.withLock { $0.stopped } }

    public func run() async throws {
        defer { stop() }
        var failures = 0  // attempts in a row that failed
        var index = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let node = self.node(at: index)
            state.withLock { $0.node = index % nodes.count }
            let connection: AMQPConnection
            do {
                connection = try await AMQPConnection.connect(node, logger: logger)
                do {
                    try await onConnect(connection)
                } catch {
                    await connection.close()
                    throw error
                }
            } catch let error as AMQPError {
                failures += 1
                index += 1
                // Every node once before waiting: while another node answers, a lost one costs nothing.
                let round = failures.isMultiple(of: nodes.count)
                let delay = round ? backoff.delay(forAttempt: failures / nodes.count - 1) : .zero
                logger.warning("cannot reach RabbitMQ; retrying", metadata: [
                    "node": "\(node.address)", "error": "\(error)", "attempt": "\(failures)",
                    "retry_in": "\(delay)", "next_node": "\(self.node(at: index).address)",
                ])
                if round { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) } }
                continue
            }
            failures = 0
            if connections.add(1, ordering: .relaxed).newValue > 1 { reconnects.increment() }
            logger.info("connected to RabbitMQ", metadata: ["node": "\(node.address)"])
            provide(connection)

            let reason = await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    await connection.closed()
                } onCancel: {
                    connection.beginClose()
                }
            } onGracefulShutdown: {
                connection.beginClose()
            }
            state.withLock { if $0.current === connection { $0.current = nil } }
            if !Task.isCancelled && !Task.isShuttingDownGracefully {
                index += 1
                logger.warning("lost the RabbitMQ connection; reconnecting", metadata: [
                    "node": "\(node.address)", "reason": "\(reason)", "next_node": "\(self.node(at: index).address)",
                ])
            }
        }
    }

    /// The node `index` names in the list, which is tried round and round.
    private func node(at index: Int) -> AMQPConfiguration { nodes[index % nodes.count] }

    /// The open connection, waiting for one while there is none.
    public func connection() async throws -> AMQPConnection {
        try await withUnsafeThrowingContinuation { continuation in
            let ready: Result<AMQPConnection, any Error>? = state.withLock { state in
                if state.stopped { return .failure(AMQPError.connectionClosed(code: nil, reason: "the connection was shut down")) }
                if let current = state.current, current.isOpen { return .success(current) }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Runs `onConnect` again on the open connection, for a caller that found part of what it
    /// declares gone: a consumer whose queue an operator deleted, say.
    public func redeclare() async throws {
        try await onConnect(try await connection())
    }

    private func provide(_ connection: AMQPConnection) {
        let waiters = state.withLock { state in
            state.current = connection
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: connection) }
    }

    private func stop() {
        let waiters = state.withLock { state in
            state.stopped = true
            state.current = nil
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: AMQPError.connectionClosed(code: nil, reason: "the connection was shut down")) }
    }
}
