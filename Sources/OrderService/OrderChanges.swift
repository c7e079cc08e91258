import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Tells the open Server-Sent Event streams when their order changed. The projection
/// announces changes with NOTIFY, so every order-api replica hears them whichever replica
/// projected the event.
final class OrderChanges: Service, Sendable {
    /// One stream's subscription: a signal per change, until `end()`.
    struct Subscription: Sendable {
        let changes: AsyncStream<Void>
        let end: @Sendable () -> Void
    }

    private let database: PostgresClient
    private let logger: Logger
    private let subscribers = Mutex<[UUID: [Int: AsyncStream<Void>.Continuation]]>([:])
    private let nextSubscriber = Atomic<Int>(0)

    init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    func subscribe(to orderID: UUID) -> Subscription {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = nextSubscriber.add(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[orderID, default: [:]][id] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { subscribers in
                subscribers[orderID]?[id] = nil
                if subscribers[orderID]?.isEmpty == true { subscribers[orderID] = nil }
            }
        }
        return Subscription(changes: stream, end: { continuation.finish() })
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { await self.listen() }
        // Shutting down: end every open stream.
        let all = subscribers.withLock { subscribers in
            defer { subscribers = [:] }
            return subscribers.values.flatMap(\.values)
        }
        for continuation in all { continuation.finish() }
    }

    private func listen() async {
        while !Task.isCancelled {
            do {
                try await database.withConnection { connection in
                    try await connection.listen(on: OrderStore.changesChannel) { notifications in
                        for try await notification in notifications {
                            guard let orderID = UUID(uuidString: notification.payload) else { continue }
                            let listeners = subscribers.withLock { $0[orderID].map { Array($0.values) } ?? [] }
                            for listener in listeners { listener.yield() }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("order change listener dropped; reconnecting", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
