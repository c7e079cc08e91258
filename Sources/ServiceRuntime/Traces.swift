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

/// The W3C `traceparent` that links the services' spans into one trace: in the `traceparent`
/// header of AMQP messages (CONTRACT §3) and in the outbox rows between a transaction and its
/// publication.
public enum TraceParent {
    public static let header = "traceparent"

    /// The `traceparent` of the current span, or nil when no trace is active.
    public static var current: String? {
        ServiceContext.current.flatMap(value(of:))
    }

    /// The `traceparent` that continues `context`, or nil when it holds no span.
    static func value(of context: ServiceContext) -> String? {
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: TraceHeaders())
        return carrier[header]
    }

    /// The context to continue from a `traceparent`; a new trace starts when there is none.
    static func context(continuing traceparent: String?) -> ServiceContext {
        var context = ServiceContext.topLevel
        if let traceparent {
            InstrumentationSystem.instrument.extract([header: traceparent], into: &context, using: TraceHeaders())
        }
        return context
    }
}

/// Trace headers held as a plain dictionary, for the instrument to read and write.
struct TraceHeaders: Extractor, Injector {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

/// What OpenTelemetry's API does without an SDK: a valid `traceparent` that arrives (on a
/// request or a message) goes on unchanged with everything done on its behalf, and nothing
/// is recorded. Without one, no trace is active and no header is sent.
struct TraceParentPassThrough: Instrument {
    private enum Key: ServiceContextKey {
        typealias Value = String
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: TraceParent.header, from: carrier), Self.isValid(value) else { return }
        context[Key.self] = value
    }

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let value = context[Key.self] else { return }
        injector.inject(value, forKey: TraceParent.header, into: &carrier)
    }

    /// Version 00 of W3C Trace Context: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`,
    /// lowercase, with ids that are not all zeros.
    static func isValid(_ value: String) -> Bool {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [2, 32, 16, 2], parts[0] == "00" else { return false }
        let isHex = parts.allSatisfy { $0.allSatisfy { $0.isHexDigit && !$0.isUppercase } }
        return isHex && parts[1].contains { $0 != "0" } && parts[2].contains { $0 != "0" }
    }
}
