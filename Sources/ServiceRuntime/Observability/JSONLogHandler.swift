import Foundation
import Logging

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
        var fields: Logger.Metadata = [
            "time": .string(Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))),
            "level": .string(event.level.rawValue),
            "message": .string(event.message.description),
            "logger": .string(label),
        ]
        fields.merge(metadata) { $1 }
        fields.merge(metadataProvider?.get() ?? [:]) { $1 }
        fields.merge(event.metadata ?? [:]) { $1 }
        FileHandle.standardOutput.write(Data(Self.line(fields).utf8))
    }

    /// `fields` as one line of JSON with sorted keys. Written by hand: Foundation's
    /// `JSONSerialization` sorts keys with locale-aware comparison, which cost a busy worker an
    /// eighth of its CPU.
    static func line(_ fields: Logger.Metadata) -> String {
        var line = ""
        write(.dictionary(fields), to: &line)
        line.append("\n")
        return line
    }

    private static func write(_ value: Logger.Metadata.Value, to line: inout String) {
        switch value {
        case .string(let text):
            write(text, to: &line)
        case .stringConvertible(let convertible):
            write(convertible.description, to: &line)
        case .array(let values):
            line.append("[")
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(",") }
                write(element, to: &line)
            }
            line.append("]")
        case .dictionary(let values):
            line.append("{")
            for (index, (key, element)) in values.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line.append(",") }
                write(key, to: &line)
                line.append(":")
                write(element, to: &line)
            }
            line.append("}")
        }
    }

    private static func write(_ text: String, to line: inout String) {
        line.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line.append("\\\"")
            case "\\": line.append("\\\\")
            case "\n": line.append("\\n")
            case "\r": line.append("\\r")
            case "\t": line.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                line.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: line.unicodeScalars.append(scalar)
            }
        }
        line.append("\"")
    }
}
