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
        Self.line(fields).withUnsafeBufferPointer { writeToStandardOutput($0) }
    }

    /// `fields` as one line of JSON with sorted keys. Written by hand: Foundation's
    /// `JSONSerialization` sorts keys with locale-aware comparison, which cost a busy worker an
    /// eighth of its CPU.
    static func line(_ fields: Logger.Metadata) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        write(.dictionary(fields), to: &line)
        line.append(UInt8(ascii: "\n"))
        return line
    }

    private static func write(_ value: Logger.Metadata.Value, to line: inout [UInt8]) {
        switch value {
        case .string(let text):
            JSONText.appendString(text, to: &line)
        case .stringConvertible(let convertible):
            JSONText.appendString(convertible.description, to: &line)
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                write(element, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let values):
            line.append(UInt8(ascii: "{"))
            for (index, (key, element)) in values.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                JSONText.appendString(key, to: &line)
                line.append(UInt8(ascii: ":"))
                write(element, to: &line)
            }
            line.append(UInt8(ascii: "}"))
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
