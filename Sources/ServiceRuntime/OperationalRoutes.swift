import AMQPClient
public import Hummingbird
import PostgresNIO
import Prometheus

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

/// `/health`, `/ready` and `/metrics`, the same on every service.
public struct OperationalRoutes<Context: RequestContext>: Sendable {
    let database: PostgresClient
    let broker: ReconnectingConnection
    let metrics: PrometheusCollectorRegistry

    public init(resources: ServiceResources) {
        database = resources.database
        broker = resources.broker
        metrics = resources.metrics
    }

    public func add(to router: Router<Context>) {
        router.get("/health") { _, _ in JSONResponse.make(.ok, ["status": "healthy"]) }
        router.get("/ready") { _, _ in await readiness() }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
            )
        }
    }

    /// 200 when PostgreSQL answers and RabbitMQ is connected; otherwise 503 naming what is down.
    private func readiness() async -> Response {
        let checks = ["postgres": await database.isReachable(), "rabbitmq": broker.isConnected]
        let down = checks.filter { !$0.value }.keys.sorted()
        guard down.isEmpty else {
            return JSONResponse.make(.serviceUnavailable, Readiness(status: "unavailable", down: down, checks: checks))
        }
        return JSONResponse.make(.ok, Readiness(status: "ready", down: [], checks: checks))
    }

    struct Readiness: Encodable {
        let status: String
        let down: [String]
        let checks: [String: Bool]
    }
}
