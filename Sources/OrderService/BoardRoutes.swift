import Foundation
import Hummingbird
import NIOCore
import OrderEvents
import ServiceRuntime
import Synchronization

/// The live order board: the page (`GET /`), one stream of every order's changes
/// (`GET /board/events`) and the system panel's data (`GET /system`).
struct BoardRoutes: Sendable {
    /// The page, embedded in the binary: plain HTML, CSS and JavaScript, nothing external.
    static let page = ByteBuffer(bytes: PackageResources.board_html)
    /// How many of the newest orders a board starts with.
    static let initialOrders = 50
    /// Changes are gathered this long and sent as one event, so hundreds of orders a second
    /// make four events a second, each with the orders as they are now.
    static let batchInterval: Duration = .milliseconds(250)
    /// A comment goes out after this long without changes, so proxies keep the stream open.
    static let keepAlive: Duration = .seconds(15)

    let store: OrderStore
    let changes: OrderChanges
    let system: SystemStatus

    func add(to router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: Self.page))
        }
        router.get("/board/events") { _, _ in try await stream() }
        router.get("/system") { _, _ in JSONResponse.make(.ok, await system.snapshot()) }
    }

    /// Server-Sent Events named `orders`: the newest orders at once, then every changed order.
    private func stream() async throws -> Response {
        let subscription = changes.subscribe(to: nil)  // before reading, so no change slips between
        let newest: [Order]
        do {
            newest = try await store.list(status: nil, limit: Self.initialOrders, after: nil).orders
        } catch {
            subscription.end()
            throw error
        }
        let store = self.store
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { subscription.end() }
            try await writer.write(ServerSentEvent.encode("orders", newest))
            let pending = PendingChanges()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await id in subscription.changes { pending.add(id) }
                    pending.close()
                }
                var quiet: Duration = .zero
                while true {
                    try await Task.sleep(for: Self.batchInterval)
                    let (ids, isOpen) = pending.take()
                    if !ids.isEmpty {
                        try await writer.write(ServerSentEvent.encode("orders", try await store.orders(ids)))
                        quiet = .zero
                    } else if quiet >= Self.keepAlive {
                        try await writer.write(ByteBuffer(string: ":\n\n"))
                        quiet = .zero
                    } else {
                        quiet += Self.batchInterval
                    }
                    if !isOpen { break }
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        })
    }

    /// The ids of the orders changed since the last batch.
    private final class PendingChanges: Sendable {
        private let state = Mutex((ids: Set<UUID>(), isOpen: true))

        func add(_ id: UUID) { state.withLock { _ = $0.ids.insert(id) } }

        func close() { state.withLock { $0.isOpen = false } }

        func take() -> (ids: [UUID], isOpen: Bool) {
            state.withLock { state in
                defer { state.ids = [] }
                return (Array(state.ids), state.isOpen)
            }
        }
    }
}
