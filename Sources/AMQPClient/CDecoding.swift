internal import CRabbitMQ
import Foundation

// Swift values read from the C structures librabbitmq hands back: byte strings, field
// values and tables, message properties. (`CArena` builds the C structures from Swift values.)

extension amqp_bytes_t {
    var array: [UInt8] {
        guard len > 0, let bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: len))
    }

    var string: String { String(decoding: array, as: UTF8.self) }
}

extension AMQPFieldValue {
    init(_ field: amqp_field_value_t) {
        let value = field.value
        switch amqp_field_value_kind_t(UInt32(field.kind)) {
        case AMQP_FIELD_KIND_BOOLEAN: self = .bool(value.boolean != 0)
        case AMQP_FIELD_KIND_I8: self = .int8(value.i8)
        case AMQP_FIELD_KIND_U8: self = .uint8(value.u8)
        case AMQP_FIELD_KIND_I16: self = .int16(value.i16)
        case AMQP_FIELD_KIND_U16: self = .uint16(value.u16)
        case AMQP_FIELD_KIND_I32: self = .int32(value.i32)
        case AMQP_FIELD_KIND_U32: self = .uint32(value.u32)
        case AMQP_FIELD_KIND_I64: self = .int64(value.i64)
        case AMQP_FIELD_KIND_U64: self = .uint64(value.u64)
        case AMQP_FIELD_KIND_F32: self = .float(value.f32)
        case AMQP_FIELD_KIND_F64: self = .double(value.f64)
        case AMQP_FIELD_KIND_DECIMAL: self = .decimal(scale: value.decimal.decimals, value: value.decimal.value)
        case AMQP_FIELD_KIND_UTF8: self = .string(value.bytes.string)
        case AMQP_FIELD_KIND_BYTES: self = .bytes(value.bytes.array)
        case AMQP_FIELD_KIND_TIMESTAMP: self = .timestamp(value.u64)
        case AMQP_FIELD_KIND_ARRAY:
            let array = value.array
            self = .array((0..<Int(array.num_entries)).map { AMQPFieldValue(array.entries[$0]) })
        case AMQP_FIELD_KIND_TABLE: self = .table(AMQPTable(value.table))
        default: self = .void
        }
    }
}

extension Dictionary where Key == String, Value == AMQPFieldValue {
    init(_ table: amqp_table_t) {
        self.init(minimumCapacity: Int(table.num_entries))
        for index in 0..<Int(table.num_entries) {
            let entry = table.entries[index]
            self[entry.key.string] = AMQPFieldValue(entry.value)
        }
    }
}

extension AMQPProperties {
    init(_ c: amqp_basic_properties_t) {
        self.init()
        let flags = Int32(bitPattern: c._flags)
        func string(_ flag: Int32, _ bytes: amqp_bytes_t) -> String? { flags & flag != 0 ? bytes.string : nil }
        contentType = string(AMQP_BASIC_CONTENT_TYPE_FLAG, c.content_type)
        contentEncoding = string(AMQP_BASIC_CONTENT_ENCODING_FLAG, c.content_encoding)
        correlationID = string(AMQP_BASIC_CORRELATION_ID_FLAG, c.correlation_id)
        replyTo = string(AMQP_BASIC_REPLY_TO_FLAG, c.reply_to)
        expiration = string(AMQP_BASIC_EXPIRATION_FLAG, c.expiration)
        messageID = string(AMQP_BASIC_MESSAGE_ID_FLAG, c.message_id)
        type = string(AMQP_BASIC_TYPE_FLAG, c.type)
        userID = string(AMQP_BASIC_USER_ID_FLAG, c.user_id)
        appID = string(AMQP_BASIC_APP_ID_FLAG, c.app_id)
        if flags & AMQP_BASIC_HEADERS_FLAG != 0 { headers = AMQPTable(c.headers) }
        if flags & AMQP_BASIC_DELIVERY_MODE_FLAG != 0 { deliveryMode = DeliveryMode(rawValue: c.delivery_mode) }
        if flags & AMQP_BASIC_PRIORITY_FLAG != 0 { priority = c.priority }
        if flags & AMQP_BASIC_TIMESTAMP_FLAG != 0 { timestamp = Date(timeIntervalSince1970: TimeInterval(c.timestamp)) }
    }
}
