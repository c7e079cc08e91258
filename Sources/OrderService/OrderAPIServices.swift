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
        let store = OrderStore(database: database, outbox: resources.outboxDispatch, logger: logger)
        let changes = OrderChanges(database: database, logger: logger)
        let system = SystemStatus(store: store, broker: resources.consuming, topology: settings.broker.topology, management: management)
        let router = Self.router(resources, store: store, changes: changes, system: system)
        return [
            OutboxRelay(resources: resources, timeToLive: orderTTL.map { [.orderPlaced: $0] } ?? [:]),
            RetentionService(database: database, retention: settings.retention, logger: logger, alsoPruning: [OrderStore.idempotencyKeys]),
            changes,
            EventConsumer(queue: Queues.orderStatus, handler: StatusProjection(store: store), resources: resources),
            resources.httpServer(router),
        ]
    }

    /// Every route of the order-api: the operational ones, the API of CONTRACT §2, its
    /// OpenAPI description and the order board.
    static func router(_ resources: ServiceResources, store: OrderStore, changes: OrderChanges, system: SystemStatus) -> Router<BasicRequestContext> {
        let router = resources.makeRouter()
        OrderRoutes(store: store, changes: changes).add(to: router)
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: JSONResponse.contentType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
        }
        BoardRoutes(store: store, changes: changes, system: system).add(to: router)
        return router
    }
}
