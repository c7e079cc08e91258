import Foundation
import Hummingbird
import Logging
import OrderEvents
@testable import OrderService
import Prometheus
import ServiceRuntime
import Testing

/// GET /openapi.json describes the order-api as it is: every route the router serves, and
/// every status code CONTRACT §2 fixes. (Schemathesis checks the answers against it in the
/// end-to-end tests.)
@Suite("OpenAPI description of the order-api")
struct APIDescriptionTests {
    static var document: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(PackageResources.openapi_json))) as? [String: Any] ?? [:]
    }
    static var paths: [String: [String: Any]] { document["paths"] as? [String: [String: Any]] ?? [:] }

    /// The contract's calls and the status codes each may answer.
    static let contract: [(method: String, path: String, statuses: Set<String>)] = [
        ("post", "/order", ["202", "400", "413", "415", "422", "503"]),
        ("post", "/orders", ["202", "400", "413", "415", "422", "503"]),
        ("get", "/orders/{order_id}", ["200", "400", "404"]),
        ("get", "/orders", ["200", "400"]),
        ("get", "/orders/{order_id}/events", ["200", "400", "404"]),
        ("get", "/health", ["200"]),
        ("get", "/ready", ["200", "503"]),
        ("get", "/metrics", ["200"]),
    ]

    @Test("it is OpenAPI 3.1")
    func version() {
        #expect((Self.document["openapi"] as? String)?.hasPrefix("3.1") == true)
    }

    @Test("every call of CONTRACT §2 is described with each status code it answers")
    func contractCalls() {
        for call in Self.contract {
            let operation = Self.paths[call.path]?[call.method] as? [String: Any]
            let responses = Set((operation?["responses"] as? [String: Any] ?? [:]).keys)
            #expect(call.statuses.isSubset(of: responses), "\(call.method.uppercased()) \(call.path) describes \(responses.sorted())")
        }
    }

    @Test("it describes exactly the routes the order-api serves")
    func routes() throws {
        let settings = try ServiceSettings(service: .orderAPI, environment: EnvironmentVariables([:]))
        let resources = ServiceResources(settings: settings, environment: EnvironmentVariables([:]), logger: Logger(label: "test"), metrics: PrometheusCollectorRegistry(), schema: OrderAPIServices.schema)
        let router = OrderAPIServices.assemble(resources, management: URL(string: "http://127.0.0.1:15672")!).router

        let served = Set(router.routes.map { "\("\($0.method)".lowercased()) \($0.path)" })
        let described = Set(Self.paths.flatMap { path, operations in operations.keys.map { "\($0) \(path)" } })
        #expect(served == described)
    }

    @Test("the request schema has the limits OrderRequest enforces")
    func requestLimits() throws {
        let schemas = (Self.document["components"] as? [String: Any])?["schemas"] as? [String: Any]
        let properties = try #require((schemas?["OrderRequest"] as? [String: Any])?["properties"] as? [String: [String: Any]])
        #expect(properties["quantity"]?["minimum"] as? Int == 1)
        #expect(properties["quantity"]?["maximum"] as? Int == 100)
        #expect(properties["user_id"]?["maxLength"] as? Int == 64)
        #expect(properties["item"]?["maxLength"] as? Int == 64)
        #expect(OrderRoutes.maximumBodySize == 16 * 1024)
    }
}
