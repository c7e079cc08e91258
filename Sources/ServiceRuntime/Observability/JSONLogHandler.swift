import Foundation
import Logging
import OrderEvents

#if canImport(Glibc)
import Glibc
#endif

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
            "time": .string(EventCoding.formatTimestamp(Date())),
            "level": .string(event.level.rawValue),
            "message": .string(event.message.description),
            "logger": .string(label),
        ]
        fields.merge(metadata) { $1 }
        fields.merge(metadataProvider?.get() ?? [:]) { $1 }
        fields.merge(event.metadata ?? [:]) { $1 }
        var line = Self.line(fields)
        line.withUTF8 { writeToStandardOutput($0) }
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
        defer { line.append("\"") }
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            line.append(text)  // nothing to escape, as in almost every value
            return
        }
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
    }
}

/// One `write` per line, so that lines of concurrent loggers do not interleave.
private func writeToStandardOutput(_ bytes: UnsafeBufferPointer<UInt8>) {
    var written = 0
    while written < bytes.count {
        let result = write(STDOUT_FILENO, bytes.baseAddress! + written, bytes.count - written)
        if result > 0 {
            written += result
        } else if result < 0, errno == EINTR {
            continue
        } else {
            return  // standard output is gone: the line is lost, as FileHandle would lose it
        }
    }
}
