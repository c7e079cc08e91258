import AMQPClient
public import Hummingbird
import Metrics
import PostgresNIO
import Prometheus

/// `/health`, `/ready` and `/metrics`, the same on every service.
public struct OperationalRoutes<Context: RequestContext>: Sendable {
    let database: PostgresClient
    let brokerConnections: [ReconnectingConnection]
    let metrics: PrometheusCollectorRegistry
    let health: ServiceHealth
    /// 1 while the service is ready, 0 while not; set each time `/ready` or `/metrics` is read,
    /// so that an alert sees what a readiness probe sees.
    let ready = Gauge(label: "service_ready")

    public init(resources: ServiceResources) {
        database = resources.database
        brokerConnections = [resources.consuming, resources.publishing]
        metrics = resources.metrics
        health = resources.health
    }

    public func add(to router: Router<Context>) {
        router.get("/health") { _, _ in JSONResponse.make(.ok, ["status": "healthy"]) }
        router.get("/ready") { _, _ in
            let readiness = await readiness()
            return JSONResponse.make(readiness.down.isEmpty ? .ok : .serviceUnavailable, readiness)
        }
        router.get("/metrics") { _, _ in
            _ = await readiness()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
            )
        }
    }

    /// 200 when PostgreSQL answers, both RabbitMQ connections are open and no part of the service reports
    /// a condition that stops its work; otherwise 503 naming what is down. `problems` says
    /// what each part reports, whether it makes the service unready or not.
    private func readiness() async -> Readiness {
        let checks = ["postgres": await database.isReachable(), "rabbitmq": brokerConnections.allSatisfy(\.isConnected)]
        let conditions = health.current
        let down = (Array(checks.filter { !$0.value }.keys) + conditions.filter(\.value.makesUnready).keys).sorted()
        ready.record(down.isEmpty ? 1 : 0)
        return Readiness(status: down.isEmpty ? "ready" : "unavailable", down: down, checks: checks, problems: conditions.mapValues(\.detail))
    }

    struct Readiness: Encodable {
        let status: String
        let down: [String]
        let checks: [String: Bool]
        let problems: [String: String]
    }
}
