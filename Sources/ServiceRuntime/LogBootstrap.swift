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

/// One JSON object per line: time, level, message, label, source location and metadata.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: Any] = [
            "time": Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "level": event.level.rawValue,
            "message": event.message.description,
            "logger": label,
        ]
        let merged = metadata.merging(metadataProvider?.get() ?? [:]) { $1 }.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged { object[key] = Self.json(value) }
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(0x0A)
        FileHandle.standardOutput.write(line)
    }

    private static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(json)
        case .dictionary(let values): values.mapValues(json)
        }
    }
}
