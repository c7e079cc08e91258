import Hummingbird
import OrderEvents
public import ServiceRuntime
public import ServiceLifecycle

/// The order-api's services: outbox relay, retention, the order-change listener, the
/// `order-status` projection and the HTTP server. `ORDER_TTL` (unset by default) is how long
/// an `OrderPlaced` may wait for an inventory worker before the broker expires it.
public enum OrderAPI {
    public static let service = "order-api"
    public static let schema = OrderStore.schema

    public static func services(_ context: ServiceContext) throws -> [any Service] {
        let (settings, database, logger) = (context.settings, context.database, context.logger)
        let orderTTL = try EnvironmentVariables().duration("ORDER_TTL")
        let store = OrderStore(database: database, logger: logger)
        let changes = OrderChanges(database: database, logger: logger)
        let router = context.makeRouter()
        OrderRoutes(store: store, changes: changes).add(to: router)
        return [
            OutboxRelay(context: context, timeToLive: orderTTL.map { [.orderPlaced: $0] } ?? [:]),
            RetentionService(database: database, retention: settings.retention, logger: logger),
            changes,
            EventConsumer(queue: Queues.orderStatus, handler: StatusProjection(store: store), context: context),
            Application(router: router, configuration: settings.httpConfiguration, logger: logger),
        ]
    }
}
