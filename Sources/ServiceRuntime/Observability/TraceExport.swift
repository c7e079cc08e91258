import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Tracing: spans through swift-distributed-tracing, exported over OTLP/HTTP by swift-otel
/// when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; the
/// other `OTEL_*` variables of the OpenTelemetry specification tune it. Without an endpoint
/// nothing is recorded or exported, and a caller's `traceparent` is passed on unchanged.
enum TraceExport {
    /// Whether spans are to be exported: an OTLP endpoint is set. A value swift-otel cannot
    /// use (a URL that is not http or https, the gRPC protocol, which is not built in) is a
    /// configuration error here rather than a crash or silence later.
    static func isConfigured(in environment: EnvironmentVariables) throws(ConfigurationError) -> Bool {
        for variable in ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] {
            if let value = environment.string(variable), !["http/protobuf", "http/json"].contains(value) {
                throw ConfigurationError(variable: variable, problem: "'\(value)' is not built in; use http/protobuf or http/json")
            }
        }
        var configured = false
        for variable in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
            guard let value = environment.string(variable) else { continue }
            guard let url = URL(string: value), ["http", "https"].contains(url.scheme), url.host?.isEmpty == false else {
                throw ConfigurationError(variable: variable, problem: "'\(value)' is not an http:// or https:// URL")
            }
            configured = true
        }
        return configured
    }

    /// Makes the OTLP tracer the process's tracer and returns the service that batches and
    /// exports the spans (to run beside the others); without an endpoint, installs
    /// `TraceParentPassThrough` and returns nil.
    static func bootstrap(_ settings: ServiceSettings, logger: Logger) throws -> (any Service)? {
        guard settings.exportsTraces else {
            InstrumentationSystem.bootstrap(TraceParentPassThrough())
            return nil
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = settings.service
        configuration.resourceAttributes["service.instance.id"] = "\(settings.replica)"
        configuration.propagators = [.traceContext]
        configuration.diagnosticLogger = .custom(logger)  // its own lines in the service's log format
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(tracer)
        return service
    }

    /// Adds `trace_id` and `span_id` of the current span to every log line written inside it.
    static let logMetadata: Logger.MetadataProvider = OTel.makeLoggingMetadataProvider()
}
