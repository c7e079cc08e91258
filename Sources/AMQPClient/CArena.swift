internal import CRabbitMQ
import Foundation

/// Memory for the C structures a call builds from Swift values (tables, properties, byte
/// strings). Everything is freed together when the arena goes away, after the C call.
final class CArena {
    private let pool: UnsafeMutablePointer<amqp_pool_t>

    init() {
        pool = .allocate(capacity: 1)
        init_amqp_pool(pool, 4096)
    }

    deinit {
        empty_amqp_pool(pool)
        pool.deallocate()
    }

    private func allocate<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        guard count > 0, let raw = amqp_pool_alloc(pool, MemoryLayout<T>.stride * count) else {
            return UnsafeMutablePointer(bitPattern: MemoryLayout<T>.alignment)!
        }
        return raw.bindMemory(to: T.self, capacity: count)
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        bytes(Array(string.utf8))
    }

    func bytes(_ data: some Collection<UInt8>) -> amqp_bytes_t {
        let buffer = allocate(UInt8.self, count: data.count)
        _ = UnsafeMutableBufferPointer(start: buffer, count: data.count).initialize(from: data)
        return amqp_bytes_t(len: data.count, bytes: UnsafeMutableRawPointer(buffer))
    }

    func table(_ table: AMQPTable?) -> amqp_table_t {
        guard let table, !table.isEmpty else { return amqp_empty_table }
        let entries = allocate(amqp_table_entry_t.self, count: table.count)
        // Sorted so the same table always encodes to the same bytes.
        for (index, (key, value)) in table.sorted(by: { $0.key < $1.key }).enumerated() {
            entries[index] = amqp_table_entry_t(key: bytes(key), value: self.value(value))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    func value(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        func set(_ kind: amqp_field_value_kind_t, _ assign: (inout amqp_field_value_t) -> Void) {
            field.kind = UInt8(kind.rawValue)
            assign(&field)
        }
        switch value {
        case .bool(let v): set(AMQP_FIELD_KIND_BOOLEAN) { $0.value.boolean = v ? 1 : 0 }
        case .int8(let v): set(AMQP_FIELD_KIND_I8) { $0.value.i8 = v }
        case .uint8(let v): set(AMQP_FIELD_KIND_U8) { $0.value.u8 = v }
        case .int16(let v): set(AMQP_FIELD_KIND_I16) { $0.value.i16 = v }
        case .uint16(let v): set(AMQP_FIELD_KIND_U16) { $0.value.u16 = v }
        case .int32(let v): set(AMQP_FIELD_KIND_I32) { $0.value.i32 = v }
        case .uint32(let v): set(AMQP_FIELD_KIND_U32) { $0.value.u32 = v }
        case .int64(let v): set(AMQP_FIELD_KIND_I64) { $0.value.i64 = v }
        case .uint64(let v): set(AMQP_FIELD_KIND_U64) { $0.value.u64 = v }
        case .float(let v): set(AMQP_FIELD_KIND_F32) { $0.value.f32 = v }
        case .double(let v): set(AMQP_FIELD_KIND_F64) { $0.value.f64 = v }
        case .decimal(let scale, let v): set(AMQP_FIELD_KIND_DECIMAL) { $0.value.decimal = amqp_decimal_t(decimals: scale, value: v) }
        case .string(let v):
            let encoded = bytes(v)
            set(AMQP_FIELD_KIND_UTF8) { $0.value.bytes = encoded }
        case .bytes(let v):
            let encoded = bytes(v)
            set(AMQP_FIELD_KIND_BYTES) { $0.value.bytes = encoded }
        case .timestamp(let v): set(AMQP_FIELD_KIND_TIMESTAMP) { $0.value.u64 = v }
        case .array(let values):
            let entries = allocate(amqp_field_value_t.self, count: values.count)
            for (index, element) in values.enumerated() { entries[index] = self.value(element) }
            set(AMQP_FIELD_KIND_ARRAY) { $0.value.array = amqp_array_t(num_entries: Int32(values.count), entries: entries) }
        case .table(let nested):
            let encoded = table(nested)
            set(AMQP_FIELD_KIND_TABLE) { $0.value.table = encoded }
        case .void: set(AMQP_FIELD_KIND_VOID) { _ in }
        }
        return field
    }

    func properties(_ properties: AMQPProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: Int32 = 0
        func string(_ value: String?, _ flag: Int32, _ assign: (inout amqp_basic_properties_t, amqp_bytes_t) -> Void) {
            guard let value else { return }
            assign(&c, bytes(value))
            flags |= flag
        }
        string(properties.contentType, AMQP_BASIC_CONTENT_TYPE_FLAG) { $0.content_type = $1 }
        string(properties.contentEncoding, AMQP_BASIC_CONTENT_ENCODING_FLAG) { $0.content_encoding = $1 }
        string(properties.correlationID, AMQP_BASIC_CORRELATION_ID_FLAG) { $0.correlation_id = $1 }
        string(properties.replyTo, AMQP_BASIC_REPLY_TO_FLAG) { $0.reply_to = $1 }
        string(properties.expiration, AMQP_BASIC_EXPIRATION_FLAG) { $0.expiration = $1 }
        string(properties.messageID, AMQP_BASIC_MESSAGE_ID_FLAG) { $0.message_id = $1 }
        string(properties.type, AMQP_BASIC_TYPE_FLAG) { $0.type = $1 }
        string(properties.userID, AMQP_BASIC_USER_ID_FLAG) { $0.user_id = $1 }
        string(properties.appID, AMQP_BASIC_APP_ID_FLAG) { $0.app_id = $1 }
        if let headers = properties.headers {
            c.headers = table(headers)
            flags |= AMQP_BASIC_HEADERS_FLAG
        }
        if let mode = properties.deliveryMode {
            c.delivery_mode = mode.rawValue
            flags |= AMQP_BASIC_DELIVERY_MODE_FLAG
        }
        if let priority = properties.priority {
            c.priority = priority
            flags |= AMQP_BASIC_PRIORITY_FLAG
        }
        if let timestamp = properties.timestamp {
            c.timestamp = UInt64(max(0, timestamp.timeIntervalSince1970))
            flags |= AMQP_BASIC_TIMESTAMP_FLAG
        }
        c._flags = amqp_flags_t(flags)
        return c
    }
}
