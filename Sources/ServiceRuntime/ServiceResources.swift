public import AMQPClient
public import Hummingbird
public import Logging
public import PostgresNIO
public import Prometheus
import OrderEvents

/// What a service is built from: its settings, logger, database client, broker connection
/// and metrics registry. The clients run as the first services of the group. No service reads
/// the process environment itself: what it configures beyond `settings` it reads from
/// `environment`.
public struct ServiceResources: Sendable {
    public let settings: ServiceSettings
    /// The variables the process was started with: `settings` come from them, and so does what a
    /// service configures of its own (`ORDER_TTL`, `NOTIFY_WEBHOOK_URL`).
    public let environment: EnvironmentVariables
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
    public init(settings: ServiceSettings, environment: EnvironmentVariables, logger: Logger, metrics: PrometheusCollectorRegistry, schema: DatabaseSchema) {
        self.settings = settings
        self.environment = environment
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
    /// `/health`, `/ready` and `/metrics`; each response of a known length sent in one write.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: SingleWriteResponses())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: JSONErrorMiddleware())
        OperationalRoutes(resources: self).add(to: router)
        return router
    }

    /// The HTTP server of `router`, once every route is on it, at `BIND_ADDRESS` and the
    /// service's port. A method that no route serves on a path some route serves answers 405
    /// with `Allow`.
    public func httpServer(_ router: Router<BasicRequestContext>) -> Application<RouterResponder<BasicRequestContext>> {
        router.refuseUnservedMethods()
        let configuration = ApplicationConfiguration(address: .hostname(settings.bindAddress, port: settings.httpPort), serverName: settings.service)
        return Application(router: router, configuration: configuration, logger: logger)
    }
}
