public import AMQPClient
public import Hummingbird
public import Logging
public import PostgresNIO
public import Prometheus
import OrderEvents

/// What a service is built from: its settings, logger, database client, broker connection
/// and metrics registry. The clients run as the first services of the group.
public struct ServiceResources: Sendable {
    public let settings: ServiceSettings
    public let logger: Logger
    public let database: PostgresClient
    /// The broker connection that consumes: deliveries and their acks, nothing published. A
    /// broker's resource alarm blocks only connections that publish, so it never holds up acks.
    public let consuming: ReconnectingConnection
    /// The broker connection that publishes: the outbox relay, and a consumer's retries and
    /// dead letters.
    public let publishing: ReconnectingConnection
    public let metrics: PrometheusCollectorRegistry
    public let schema: DatabaseSchema
    /// What the service's parts report for `/ready`.
    public let health = ServiceHealth()
    /// Hands the outbox rows of committed transactions to the outbox relay.
    public let outboxDispatch = OutboxDispatch()

    /// The clients for `settings`, not yet running: the database client for `schema`, and two
    /// broker connections, each declaring the topology each time it connects.
    public init(settings: ServiceSettings, logger: Logger, metrics: PrometheusCollectorRegistry, schema: DatabaseSchema) {
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.schema = schema
        database = settings.database.client(schema: schema.name, logger: logger)
        let topology = settings.broker.topology
        // Shuffled once per process, so that the replicas of a service spread over a cluster's nodes.
        let nodes = settings.broker.nodes.shuffled()
        func connection(_ purpose: String) -> ReconnectingConnection {
            let named = nodes.map { node in
                var node = node
                node.connectionName += " (\(purpose))"
                return node
            }
            return ReconnectingConnection(nodes: named, logger: logger) { connection in
                try await topology.declare(on: connection)
            }
        }
        consuming = connection("consuming")
        publishing = connection("publishing")
    }
}

extension ServiceResources {
    /// A router with what every service's HTTP server has: JSON errors, request metrics, and
    /// `/health`, `/ready` and `/metrics`.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: JSONErrorMiddleware())
        OperationalRoutes(resources: self).add(to: router)
        return router
    }
}
