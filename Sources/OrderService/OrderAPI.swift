import Hummingbird
import OrderEvents
public import ServiceRuntime
public import ServiceLifecycle

/// The order-api's services: outbox relay, retention, the order-change listener, the
/// `order-status` projection and the HTTP server.
public enum OrderAPI {
    public static let service = "order-api"
    public static let schema = OrderStore.schema

    public static func services(_ context: ServiceContext) throws -> [any Service] {
        let (settings, database, broker, logger) = (context.settings, context.database, context.broker, context.logger)
        let store = OrderStore(database: database, logger: logger)
        let changes = OrderChanges(database: database, logger: logger)
        let router = context.makeRouter()
        OrderRoutes(store: store, changes: changes).add(to: router)
        return [
            OutboxRelay(database: database, broker: broker, schema: schema.name, appID: service, logger: logger),
            RetentionService(database: database, retention: settings.retention, logger: logger),
            changes,
            EventConsumer(
                queue: Queues.orderStatus, broker: broker, database: database, handler: StatusProjection(store: store),
                service: service, prefetch: settings.prefetch, concurrency: settings.concurrency, logger: logger
            ),
            Application(router: router, configuration: settings.httpConfiguration, logger: logger),
        ]
    }
}
