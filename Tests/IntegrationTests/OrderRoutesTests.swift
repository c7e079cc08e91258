import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Logging
@testable import OrderService
import PostgresNIO
import Prometheus
import ServiceRuntime
import Testing

/// The order-api's real router and HTTP server, driven in process (no executable, no port),
/// over the real store in PostgreSQL: what each kind of request answers, and that a refused
/// one stores nothing. The end-to-end tests drive the same through the executables.
@Suite("order-api's routes in process: each request's status", .serialized)
struct OrderRoutesTests {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!

    /// Runs `body` with a client of the order-api's router on a fresh schema of the test
    /// database, or on a database that does not answer (nothing listens on port 1).
    static func withAPI(databaseAnswers: Bool = true, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let environment = Broker.serviceEnvironment(databaseAnswers ? [:] : ["DATABASE_URL": "postgres://orders:orders@127.0.0.1:1/orders_test"])
        let settings = try ServiceSettings(service: .orderAPI, environment: environment)
        var logger = Logger(label: "routes-test")
        logger.logLevel = .warning  // not every failed connection to port 1
        // The schema's name is the search path of the resources' client: the order-api's own
        // migrations are applied there, apart from any system the tests run.
        let resources = ServiceResources(
            settings: settings, environment: environment, logger: logger,
            metrics: PrometheusCollectorRegistry(), schema: DatabaseSchema(name: "routes_test", migrations: [])
        )
        let server = resources.httpServer(OrderAPIServices.assemble(resources, management: URL(string: "http://127.0.0.1:15672")!).router)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await resources.database.run() }
            defer { group.cancelAll() }
            if databaseAnswers {
                try await resources.database.query("drop schema if exists routes_test cascade")
                try await resources.database.query("create schema routes_test")
                try await OrderAPIServices.schema.migrate(resources.database, logger: resources.logger)
            }
            try await server.test(.router, body)
        }
    }

    static func post(_ client: some TestClientProtocol, _ body: String, path: String = "/orders", headers: HTTPFields = [.contentType: "application/json"]) async throws -> TestResponse {
        try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    /// The contract's error: `{"error": {"message": ..., "field": ...}}`; the field, if any.
    static func errorField(_ response: TestResponse) throws -> String? {
        #expect(response.headers[.contentType] == "application/json; charset=utf-8")
        let error = try #require(try json(response)["error"] as? [String: Any])
        #expect((error["message"] as? String)?.isEmpty == false)
        return error["field"] as? String
    }

    static func orderCount(_ client: some TestClientProtocol) async throws -> Int {
        let page = try await client.execute(uri: "/orders?limit=500", method: .get)
        #expect(page.status == .ok)
        return try json(page)["count"] as? Int ?? -1
    }

    static let order = #"{"user_id": "u-1", "item": "Pizza", "quantity": 2}"#

    @Test("POST /orders answers 202 with the order's id, its Location and the contract's body; GET shows it accepted")
    func accepted() async throws {
        try await Self.withAPI { client in
            for path in ["/orders", "/order"] {
                let response = try await Self.post(client, Self.order, path: path)
                #expect(response.status == .accepted)
                let body = try Self.json(response)
                let id = try #require(body["order_id"] as? String)
                #expect(UUID(uuidString: id) != nil && id == id.lowercased())
                #expect(body["status"] as? String == "accepted" && body["timestamp"] is String)
                #expect(response.headers[.location] == "/orders/\(id)")
                let shown = try await client.execute(uri: "/orders/\(id)", method: .get)
                #expect(shown.status == .ok)
                #expect(try Self.json(shown)["status"] as? String == "accepted")
            }
            // A media type of the JSON family, or none at all, is JSON too.
            #expect(try await Self.post(client, Self.order, headers: [.contentType: "application/vnd.orders+json; charset=utf-8"]).status == .accepted)
            #expect(try await Self.post(client, Self.order, headers: [:]).status == .accepted)
            #expect(try await Self.orderCount(client) == 4)
        }
    }

    @Test("an Idempotency-Key replays the first order with Idempotent-Replayed, and with another body answers 422; a bad key 400")
    func idempotency() async throws {
        try await Self.withAPI { client in
            let headers: HTTPFields = [.contentType: "application/json", Self.idempotencyKey: "key-1"]
            let first = try await Self.post(client, Self.order, headers: headers)
            let again = try await Self.post(client, Self.order, headers: headers)
            #expect(first.status == .accepted && again.status == .accepted)
            #expect(try Self.json(again)["order_id"] as? String == Self.json(first)["order_id"] as? String)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            let other = try await Self.post(client, #"{"user_id": "u-1", "item": "Taco", "quantity": 2}"#, headers: headers)
            #expect(other.status == .unprocessableContent)
            #expect(try Self.errorField(other) == "Idempotency-Key")
            let bad = try await Self.post(client, Self.order, headers: [.contentType: "application/json", Self.idempotencyKey: String(repeating: "k", count: 256)])
            #expect(bad.status == .badRequest)
            #expect(try Self.errorField(bad) == "Idempotency-Key")
            #expect(try await Self.orderCount(client) == 1)
        }
    }

    @Test("a body the contract refuses answers 400 naming its field, 413 when over 16 KiB, 415 when not JSON, and stores nothing")
    func refused() async throws {
        try await Self.withAPI { client in
            let fields: [(body: String, field: String?)] = [
                ("not json", nil),
                (#"{"item": "Pizza", "quantity": 1}"#, "user_id"),
                (#"{"user_id": "u-1", "item": "", "quantity": 1}"#, "item"),
                (#"{"user_id": "u-1", "item": "Pizza", "quantity": 0}"#, "quantity"),
                (#"{"user_id": "u-1", "item": "Pizza", "quantity": 101}"#, "quantity"),
                (#"{"user_id": "u-1", "item": "Pizza", "quantity": "2"}"#, "quantity"),
            ]
            for (body, field) in fields {
                let response = try await Self.post(client, body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(try Self.errorField(response) == field, "\(body)")
            }
            let large = try await Self.post(client, #"{"user_id": "u-1", "item": "Pizza", "quantity": 1, "note": "\#(String(repeating: "x", count: 17 * 1024))"}"#)
            #expect(large.status == .contentTooLarge)
            _ = try Self.errorField(large)
            let text = try await Self.post(client, Self.order, headers: [.contentType: "text/plain"])
            #expect(text.status == .unsupportedMediaType)
            _ = try Self.errorField(text)
            #expect(try await Self.orderCount(client) == 0)
        }
    }

    @Test("GET answers 404 for an unknown order, and 400 naming the field for an id that is not a UUID or paging it cannot use")
    func reads() async throws {
        try await Self.withAPI { client in
            let unknown = try await client.execute(uri: "/orders/\(UUID().uuidString.lowercased())", method: .get)
            #expect(unknown.status == .notFound)
            #expect(try Self.errorField(unknown) == nil)
            for (uri, field) in [("/orders/42", "order_id"), ("/orders/42/events", "order_id"), ("/orders?status=lost", "status"), ("/orders?limit=0", "limit"), ("/orders?limit=501", "limit"), ("/orders?after=nonsense", "after")] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .badRequest, "\(uri)")
                #expect(try Self.errorField(response) == field, "\(uri)")
            }
        }
    }

    @Test("a method that a known path does not serve answers 405 with Allow; a path nobody serves answers 404")
    func methodNotAllowed() async throws {
        try await Self.withAPI { client in
            let cases: [(HTTPRequest.Method, String, String)] = [
                (.delete, "/orders", "GET, POST"), (.put, "/orders/\(UUID().uuidString.lowercased())", "GET"),
                (.trace, "/system", "GET"), (.post, "/health", "GET"), (.get, "/order", "POST"),
                (.patch, "/orders/\(UUID().uuidString.lowercased())/events", "GET"), (HTTPRequest.Method("QUERY")!, "/metrics", "GET"),
            ]
            for (method, uri, allow) in cases {
                let response = try await client.execute(uri: uri, method: method)
                #expect(response.status == .methodNotAllowed, "\(method) \(uri)")
                #expect(response.headers[.allow] == allow, "\(method) \(uri)")
                _ = try Self.errorField(response)
            }
            #expect(try await client.execute(uri: "/nothing", method: .get).status == .notFound)
            #expect(try await Self.orderCount(client) == 0)
        }
    }

    @Test("while the database does not answer, POST answers 503 with Retry-After and the contract's error")
    func databaseDown() async throws {
        try await Self.withAPI(databaseAnswers: false) { client in
            let response = try await Self.post(client, Self.order)
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "5")
            _ = try Self.errorField(response)
        }
    }
}
