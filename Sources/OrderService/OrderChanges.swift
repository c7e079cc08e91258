import Foundation
import Logging
import OrderEvents
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Tells the open Server-Sent Event streams which orders changed. The projection announces
/// changes with NOTIFY, so every order-api replica hears them whichever replica projected
/// the event.
final class OrderChanges: Service, Sendable {
    /// One stream's subscription: the id of each changed order, until `end()`.
    struct Subscription: Sendable {
        let changes: AsyncStream<UUID>
        let end: @Sendable () -> Void
    }

    private let database: PostgresClient
    private let logger: Logger
    /// Per order id, or under nil for every order, the open subscriptions.
    private let subscribers = Mutex<[UUID?: [Int: AsyncStream<UUID>.Continuation]]>([:])
    private let nextSubscriber = Atomic<Int>(0)

    init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// The changes of one order, or of every order when `orderID` is nil. A stream of one order
    /// keeps only the latest signal; a stream of all keeps a few thousand ids.
    func subscribe(to orderID: UUID?) -> Subscription {
        let (stream, continuation) = AsyncStream<UUID>.makeStream(bufferingPolicy: .bufferingNewest(orderID == nil ? 4096 : 1))
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
                            for orderID in notification.payload.split(separator: ",").compactMap({ UUID(text: $0) }) {
                                let listeners = subscribers.withLock { Array(($0[orderID] ?? [:]).values) + Array(($0[nil] ?? [:]).values) }
                                for listener in listeners { listener.yield(orderID) }
                            }
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
