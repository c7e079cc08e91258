import AMQPClient
import Foundation
import Logging
import Metrics
import PostgresNIO
import Prometheus
public import ServiceLifecycle
import UnixSignals

/// The one way every executable starts: read the configuration from the process environment
/// (a bad value is one line on standard error and exit status 2), bootstrap logging, metrics
/// and tracing, migrate the schema (waiting for the database with backoff), then run the
/// database client, the broker connection and the service's own services in one
/// `ServiceGroup` that shuts down gracefully on SIGTERM and SIGINT, in reverse order, within a
/// bounded time. A service that fails (a broker topology that does not match, say) stops the
/// process: one line on standard error and exit status 1.
public enum ServiceMain {
    public static func run(
        service: ServiceIdentity,
        schema makeSchema: (EnvironmentVariables) throws -> DatabaseSchema,
        build: (ServiceResources) throws -> [any Service]
    ) async {
        let environment = EnvironmentVariables()
        let settings: ServiceSettings
        let schema: DatabaseSchema
        do {
            settings = try ServiceSettings(service: service, environment: environment)
            schema = try makeSchema(environment)
        } catch {
            exitOnConfigurationError(service.name, error)
        }
        let logger = LogBootstrap.bootstrap(settings)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(MetricNames.factory(registry))
        let resources = ServiceResources(settings: settings, environment: environment, logger: logger, metrics: registry, schema: schema)
        let services: [any Service]
        do {
            // The span exporter comes first, so it stops last and flushes what the others traced.
            let traceExport = try TraceExport.bootstrap(settings, logger: logger).map { [$0] } ?? []
            services = traceExport + [resources.database, resources.consuming, resources.publishing] + (try build(resources))
        } catch {
            exitOnConfigurationError(service.name, error)
        }
        do {
            try await migrate(schema, settings: settings, logger: logger)
            var configuration = ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: logger)
            configuration.gracefulShutdownSignals = [.sigterm, .sigint]
            configuration.maximumGracefulShutdownDuration = .seconds(25)
            try await ServiceGroup(configuration: configuration).run()
            logger.info("stopped")
        } catch {
            logger.critical("stopped on an error", metadata: ["error": "\(String(reflecting: error))"])
            FileHandle.standardError.write(Data("\(service.name): \(error)\n".utf8))
            exit(1)
        }
    }

    private static func exitOnConfigurationError(_ service: String, _ error: any Error) -> Never {
        FileHandle.standardError.write(Data("\(service): \(error)\n".utf8))
        exit(2)
    }

    /// Applies the schema's migrations, retrying with backoff while the database is unreachable.
    private static func migrate(_ schema: DatabaseSchema, settings: ServiceSettings, logger: Logger) async throws {
        let client = settings.database.client(schema: schema.name, logger: logger)
        let backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(5))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            var attempt = 0
            while true {
                do {
                    return try await schema.migrate(client, logger: logger)
                } catch {
                    let delay = backoff.delay(forAttempt: attempt)
                    attempt += 1
                    logger.warning("cannot migrate the database yet; retrying", metadata: [
                        "error": "\(String(reflecting: error))", "attempt": "\(attempt)", "retry_in": "\(delay)",
                    ])
                    try await Task.sleep(for: delay)
                }
            }
        }
    }
}
