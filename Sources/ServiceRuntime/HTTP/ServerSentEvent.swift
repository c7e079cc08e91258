import Foundation
public import NIOCore
import OrderEvents

/// One Server-Sent Event: `event: <name>` and the value as JSON on one `data:` line.
public enum ServerSentEvent {
    public static func encode(_ name: String, _ value: some Encodable) -> ByteBuffer {
        let json = (try? EventCoding.makeEncoder().encode(value)) ?? Data("null".utf8)
        var buffer = ByteBuffer(string: "event: \(name)\ndata: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }
}
