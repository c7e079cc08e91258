public import Foundation

/// A value in an AMQP 0-9-1 field table: message headers and queue or exchange arguments.
///
/// Every kind librabbitmq knows is here, so a header written by any client (such as the
/// broker's own `x-death`, a table inside an array) decodes without loss.
public indirect enum AMQPFieldValue: Sendable, Hashable {
    case bool(Bool)
    case int8(Int8)
    case uint8(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    case decimal(scale: UInt8, value: UInt32)
    case string(String)
    case bytes([UInt8])
    /// Seconds since the Unix epoch, as AMQP timestamps are.
    case timestamp(UInt64)
    case array([AMQPFieldValue])
    case table(AMQPTable)
    case void
}

/// An AMQP field table.
public typealias AMQPTable = [String: AMQPFieldValue]

extension AMQPFieldValue {
    /// The value as a string, when it is one (long strings and byte arrays holding UTF-8).
    public var stringValue: String? {
        switch self {
        case .string(let s): s
        case .bytes(let b): String(validating: b, as: UTF8.self)
        default: nil
        }
    }

    /// The value as an integer, whatever integer width it was sent with.
    public var intValue: Int? {
        switch self {
        case .int8(let v): Int(v)
        case .uint8(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int64(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        default: nil
        }
    }

    /// The value as a date, when it is a timestamp.
    public var dateValue: Date? {
        if case .timestamp(let seconds) = self { return Date(timeIntervalSince1970: TimeInterval(seconds)) }
        return nil
    }

    public var tableValue: AMQPTable? {
        if case .table(let t) = self { return t }
        return nil
    }

    public var arrayValue: [AMQPFieldValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int64(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
