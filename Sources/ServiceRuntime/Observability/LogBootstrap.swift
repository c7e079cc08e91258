import Foundation
public import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The one logger bootstrap: JSON lines (or text on a terminal) on standard output, each
/// carrying `service` and `replica`, and `trace_id` and `span_id` inside a span when traces
/// are exported; call sites add `order_id` and `event_id` as metadata.
public enum LogBootstrap {
    public static func bootstrap(_ settings: ServiceSettings) -> Logger {
        let json = (settings.logFormat ?? (isatty(STDOUT_FILENO) == 1 ? .text : .json)) == .json
        let base: Logger.Metadata = ["service": .string(settings.service), "replica": .stringConvertible(settings.replica)]
        LoggingSystem.bootstrap({ label, metadataProvider in
            var handler: any LogHandler = json
                ? JSONLogHandler(label: label, metadataProvider: metadataProvider)
                : StreamLogHandler.standardOutput(label: label, metadataProvider: metadataProvider)
            handler.logLevel = settings.logLevel
            handler.metadata = base
            return handler
        }, metadataProvider: settings.exportsTraces ? TraceExport.logMetadata : nil)
        return Logger(label: settings.service)
    }
}
