public import Logging

/// What every service reads from its environment (CONTRACT §6).
public struct ServiceSettings: Sendable {
    public enum LogFormat: String, Sendable, CaseIterable {
        case json, text
    }

    public let service: String
    /// Which replica this process is (`REPLICA`, from 1); part of every log line.
    public let replica: Int
    public let logLevel: Logger.Level
    /// Nil: JSON when standard output is not a terminal, text when it is.
    public let logFormat: LogFormat?
    public let broker: BrokerSettings
    public let database: DatabaseSettings
    public let prefetch: Int
    public let concurrency: Int
    /// How long processed-event ids and sent outbox rows are kept.
    public let retention: Duration
    /// The HTTP port: `PORT` for the API, `ADMIN_PORT` for workers.
    public let httpPort: Int
    /// The address the HTTP server binds: `BIND_ADDRESS`, loopback unless told otherwise
    /// (containers set 0.0.0.0).
    public let bindAddress: String
    /// Failures to inject, for tests and demos (`FAULT_*`; none by default).
    public let faults: FaultInjection
    /// Whether spans are exported over OTLP: `OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (swift-otel reads the rest itself).
    public let exportsTraces: Bool

    public init(service identity: ServiceIdentity, environment: EnvironmentVariables) throws(ConfigurationError) {
        service = identity.name
        replica = try environment.integer("REPLICA", default: 1, in: 1...1000)
        let level = environment.string("LOG_LEVEL", default: "info").lowercased()
        guard let parsedLevel = Logger.Level(rawValue: level == "warn" ? "warning" : level) else {
            throw ConfigurationError(variable: "LOG_LEVEL", problem: "'\(level)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = parsedLevel
        logFormat = environment.string("LOG_FORMAT") == nil ? nil : try environment.choice("LOG_FORMAT", default: LogFormat.json)
        broker = try BrokerSettings(environment: environment, service: service)
        database = try DatabaseSettings(environment: environment)
        prefetch = try environment.integer("PREFETCH", default: 512, in: 1...65535)
        concurrency = try environment.integer("CONCURRENCY", default: 256, in: 1...1000)
        retention = try environment.duration("RETENTION", default: .seconds(7 * 86400))
        httpPort = try environment.integer(identity.portVariable, default: identity.defaultPort, in: 1...65535)
        bindAddress = environment.string("BIND_ADDRESS", default: "127.0.0.1")
        faults = try FaultInjection(environment: environment)
        exportsTraces = try TraceExport.isConfigured(in: environment)
    }
}
