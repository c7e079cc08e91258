import AMQPClient
import Foundation
import Hummingbird
import OrderEvents
public import ServiceRuntime
public import ServiceLifecycle

/// The order-api's services: outbox relay, retention, the order-change listener, the
/// `order-status` projection and the HTTP server (the API and the order board). `ORDER_TTL` (unset by default) is how long
/// an `OrderPlaced` may wait for an inventory worker before the broker expires it.
public enum OrderAPIServices {
    public static let schema = OrderStore.schema

    public static func make(_ resources: ServiceResources) throws -> [any Service] {
        let (settings, environment, database, logger) = (resources.settings, resources.environment, resources.database, resources.logger)
        let orderTTL = try environment.duration("ORDER_TTL")
        let managementText = environment.string("RABBITMQ_MANAGEMENT_URL", default: "http://\(settings.broker.nodes[0].host):15672")
        guard let management = URL(string: managementText), ["http", "https"].contains(management.scheme) else {
            throw ConfigurationError(variable: "RABBITMQ_MANAGEMENT_URL", problem: "'\(managementText)' is not an http(s) URL")
        }
        let (store, changes, router) = Self.assemble(resources, management: management)
        return [
            OutboxRelay(resources: resources, timeToLive: orderTTL.map { [.orderPlaced: $0] } ?? [:]),
            RetentionService(database: database, retention: settings.retention, logger: logger, alsoPruning: [OrderStore.idempotencyKeys]),
            changes,
            EventConsumer(queue: Queues.orderStatus, handler: StatusProjection(store: store, deadLetters: DeadLetterCopies(resources: resources)), resources: resources),
            resources.httpServer(router),
        ]
    }

    /// The order store, the order-change listener, and a router with every route of the
    /// order-api over them: the operational ones, the API of CONTRACT §2, its OpenAPI
    /// description and the order board (whose system panel reads `management`).
    static func assemble(_ resources: ServiceResources, management: URL) -> (store: OrderStore, changes: OrderChanges, router: Router<BasicRequestContext>) {
        let store = OrderStore(database: resources.database, outbox: resources.outboxDispatch, logger: resources.logger)
        let changes = OrderChanges(database: resources.database, logger: resources.logger)
        let system = SystemStatus(store: store, broker: resources.consuming, topology: resources.settings.broker.topology, management: management)
        let router = resources.makeRouter()
        OrderRoutes(store: store, changes: changes).add(to: router)
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: JSONResponse.contentType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
        }
        BoardRoutes(store: store, changes: changes, system: system).add(to: router)
        return (store, changes, router)
    }
}
