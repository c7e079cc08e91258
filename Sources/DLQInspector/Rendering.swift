import AMQPClient
import Foundation
import OrderEvents

/// A JSON document built from dynamic parts (headers, bodies), written with sorted keys.
enum JSONValue: Encodable {
    case null
    case bool(Bool)
    case number(Double)
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let values): try container.encode(values)
        case .object(let values): try container.encode(values)
        }
    }

    init(_ value: String?) { self = value.map(JSONValue.string) ?? .null }

    init(_ value: Int?) { self = value.map { .integer(Int64($0)) } ?? .null }

    init(_ date: Date?) { self = JSONValue(date.map(EventCoding.formatTimestamp)) }

    init(_ field: AMQPFieldValue) {
        switch field {
        case .bool(let value): self = .bool(value)
        case .float(let value): self = .number(Double(value))
        case .double(let value): self = .number(value)
        case .decimal(let scale, let value): self = .number(Double(value) / pow(10, Double(scale)))
        case .string, .bytes: self = JSONValue(field.stringValue ?? "")
        case .timestamp: self = JSONValue(field.dateValue)
        case .array(let values): self = .array(values.map(JSONValue.init))
        case .table(let table): self = JSONValue(table)
        case .void: self = .null
        default: self = JSONValue(field.intValue)
        }
    }

    init(_ table: AMQPTable) { self = .object(table.mapValues(JSONValue.init)) }

    /// A message body: its JSON when it is JSON, its text otherwise.
    init(body: Data) {
        if let value = try? JSONDecoder().decode(Decoded.self, from: body) {
            self = value.json
        } else {
            self = .string(String(decoding: body, as: UTF8.self))
        }
    }

    /// Decodes any JSON into a `JSONValue`.
    private struct Decoded: Decodable {
        let json: JSONValue

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                json = .null
            } else if let value = try? container.decode(Bool.self) {
                json = .bool(value)
            } else if let value = try? container.decode(Int64.self) {
                json = .integer(value)
            } else if let value = try? container.decode(Double.self) {
                json = .number(value)
            } else if let value = try? container.decode(String.self) {
                json = .string(value)
            } else if let values = try? container.decode([Decoded].self) {
                json = .array(values.map(\.json))
            } else {
                json = .object(try container.decode([String: Decoded].self).mapValues(\.json))
            }
        }
    }

    /// The document as text: indented, or on one line.
    func text(pretty: Bool = true) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

extension StoredDeadLetter {
    /// The summary `list` prints.
    var summary: JSONValue {
        .object([
            "queue": .string(queue),
            "event_type": JSONValue(eventType),
            "order_id": JSONValue(orderID),
            "event_id": JSONValue(eventID),
            "reason": JSONValue(deadLetter.reason?.rawValue),
            "error": JSONValue(deadLetter.error),
            "failed_by": JSONValue(deadLetter.failedBy),
            "attempts": JSONValue(deadLetter.attempts),
            "first_failure": JSONValue(deadLetter.firstFailure),
            "original_exchange": JSONValue(deadLetter.originalExchange),
            "original_routing_key": JSONValue(deadLetter.originalRoutingKey),
            "replays": .integer(Int64(deadLetter.replays)),
        ])
    }

    /// The whole message, for `show`.
    var whole: JSONValue {
        let properties = delivery.properties
        return .object([
            "queue": .string(queue),
            "exchange": .string(delivery.exchange),
            "routing_key": .string(delivery.routingKey),
            "properties": .object([
                "content_type": JSONValue(properties.contentType),
                "delivery_mode": JSONValue(properties.deliveryMode.map { Int($0.rawValue) }),
                "message_id": JSONValue(properties.messageID),
                "type": JSONValue(properties.type),
                "app_id": JSONValue(properties.appID),
                "timestamp": JSONValue(properties.timestamp),
                "expiration": JSONValue(properties.expiration),
            ]),
            "headers": JSONValue(delivery.headers),
            "body": JSONValue(body: delivery.body),
        ])
    }

    /// The summary as a few lines of text.
    var lines: [String] {
        let letter = deadLetter
        var lines = [
            "\(eventType ?? "(no event type)")  event \(eventID ?? "-")  order \(orderID ?? "-")",
            "  reason \(letter.reason?.rawValue ?? "unknown")  attempts \(letter.attempts.map(String.init) ?? "-")"
                + "  first failure \(letter.firstFailure.map(EventCoding.formatTimestamp) ?? "-")"
                + "  from \(letter.originalExchange ?? "?") / \(letter.originalRoutingKey ?? "?")"
                + (letter.failedBy.map { "  failed by \($0)" } ?? "")
                + (letter.replays > 0 ? "  replays \(letter.replays)" : ""),
        ]
        if let error = letter.error { lines.append("  error: \(error)") }
        return lines
    }
}
