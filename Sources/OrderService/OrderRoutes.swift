import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import OrderEvents
import ServiceRuntime
import Synchronization

/// The order routes of CONTRACT §2.
struct OrderRoutes: Sendable {
    static let maximumBodySize = 16 * 1024

    let store: OrderStore
    let changes: OrderChanges
    let accepted = Counter(label: "orders_accepted_total")

    /// Adds the routes, each request in a server span that continues the caller's
    /// `traceparent` (the operational routes stay untraced).
    func add(to router: Router<BasicRequestContext>) {
        let router = router.group().add(middleware: TracingMiddleware())
        router.post("/order") { request, context in try await place(request, context) }
        router.post("/orders") { request, context in try await place(request, context) }
        router.get("/orders") { request, _ in try await list(request) }
        router.get("/orders/{order_id}") { _, context in try await show(context) }
        router.get("/orders/{order_id}/events") { _, context in try await stream(context) }
    }

    private func place(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        if let type = request.headers[.contentType], !Self.isJSON(type) {
            return JSONResponse.error(.unsupportedMediaType, "Content-Type must be application/json")
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maximumBodySize)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            return JSONResponse.error(.contentTooLarge, "the body must be at most \(Self.maximumBodySize) bytes")
        }
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let key, !IdempotencyKey.validate(key) {
            return JSONResponse.error(.badRequest, "Idempotency-Key must be 1 to 255 printable ASCII characters", field: "Idempotency-Key")
        }
        let order: OrderRequest
        do {
            order = try OrderRequest(json: Data(body.readableBytesView))
        } catch {
            return JSONResponse.error(.badRequest, error.message, field: error.field)
        }
        let placement: OrderStore.Placement
        do {
            placement = try await store.place(order, idempotencyKey: key)
        } catch {
            store.logger.error("could not store an order", metadata: ["error": "\(String(reflecting: error))"])
            return JSONResponse.error(.serviceUnavailable, "the order could not be stored; try again shortly", headers: [.retryAfter: "5"])
        }
        switch placement {
        case .accepted(let stored):
            accepted.increment()
            return Self.acceptedResponse(stored, replayed: false)
        case .replayed(let earlier):
            return Self.acceptedResponse(earlier, replayed: true)
        case .conflict:
            return JSONResponse.error(.unprocessableContent, "this Idempotency-Key was used with a different body", field: "Idempotency-Key")
        }
    }

    private static func acceptedResponse(_ order: Order, replayed: Bool) -> Response {
        var headers: HTTPFields = [.location: "/orders/\(order.orderID.lowercasedText)"]
        if replayed { headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        var accepted = JSONObjectWriter()
        accepted.write("order_id", order.orderID.lowercasedText)
        accepted.write("status", "accepted")
        accepted.write("message", "Order received and being processed")
        accepted.write("timestamp", EventCoding.formatTimestamp(order.createdAt))
        return JSONResponse.make(.accepted, accepted, headers: headers)
    }

    static func isJSON(_ contentType: String) -> Bool {
        // Without Foundation's `trimmingCharacters`, which bridges through `NSString`: about
        // 2 % of order-api's time per order.
        let mediaType = contentType.prefix { $0 != ";" }.trimmingWhitespace().lowercased()
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    private func orderID(_ context: BasicRequestContext) -> UUID? {
        context.parameters.get("order_id").flatMap { UUID(text: $0) }
    }

    private func show(_ context: BasicRequestContext) async throws -> Response {
        guard let id = orderID(context) else { return JSONResponse.error(.badRequest, "order_id must be a UUID", field: "order_id") }
        guard let order = try await store.order(id) else { return JSONResponse.error(.notFound, "no order \(id.lowercasedText)") }
        return JSONResponse.make(.ok, order)
    }

    private func list(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var status: OrderStatus?
        if let text = query["status"].map(String.init) {
            guard let parsed = OrderStatus(rawValue: text) else {
                let allowed = OrderStatus.allCases.map(\.rawValue).joined(separator: ", ")
                return JSONResponse.error(.badRequest, "status must be one of \(allowed)", field: "status")
            }
            status = parsed
        }
        var limit = 50
        if let text = query["limit"].map(String.init) {
            guard let parsed = Int(text), (1...500).contains(parsed) else {
                return JSONResponse.error(.badRequest, "limit must be an integer from 1 to 500", field: "limit")
            }
            limit = parsed
        }
        var cursor: Cursor?
        if let text = query["after"].map(String.init) {
            guard let parsed = Cursor(text) else { return JSONResponse.error(.badRequest, "after must be a cursor from a previous page", field: "after") }
            cursor = parsed
        }
        let page = try await store.list(status: status, limit: limit, after: cursor)
        return JSONResponse.make(.ok, Page(orders: page.orders, count: page.orders.count, next: page.next?.text))
    }

    struct Page: Encodable {
        let orders: [Order]
        let count: Int
        let next: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(orders, forKey: .orders)
            try container.encode(count, forKey: .count)
            try container.encode(next, forKey: .next)  // null on the last page
        }

        enum CodingKeys: String, CodingKey { case orders, count, next }
    }

    /// Server-Sent Events: the order at once, then on every change; the stream ends once the
    /// order is notified, or after 60 s without a change.
    private func stream(_ context: BasicRequestContext) async throws -> Response {
        guard let id = orderID(context) else { return JSONResponse.error(.badRequest, "order_id must be a UUID", field: "order_id") }
        let subscription = changes.subscribe(to: id)  // before reading, so no change slips between
        guard let first = try await store.order(id) else {
            subscription.end()
            return JSONResponse.error(.notFound, "no order \(id.lowercasedText)")
        }
        let store = self.store
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { subscription.end() }
            try await writer.write(Self.event(first))
            guard !first.isFinished else { return try await writer.finish(nil) }
            let activity = Activity()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while activity.idle < .seconds(60) {
                        try await Task.sleep(for: .seconds(1))
                    }
                    subscription.end()
                }
                var last = first
                for await _ in subscription.changes {
                    activity.touch()
                    guard let order = try await store.order(id), order != last else { continue }
                    try await writer.write(Self.event(order))
                    last = order
                    if order.isFinished { break }
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        })
    }

    /// When a stream last saw a change.
    private final class Activity: Sendable {
        private let last = Mutex(ContinuousClock.now)

        func touch() { last.withLock { $0 = .now } }

        var idle: Duration { ContinuousClock.now - last.withLock { $0 } }
    }

    private static func event(_ order: Order) -> ByteBuffer {
        ServerSentEvent.encode("status", order)
    }
}

extension Substring {
    /// Without its leading and trailing whitespace.
    fileprivate func trimmingWhitespace() -> Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map { index(after: $0) } ?? start
        return self[start..<end]
    }
}
