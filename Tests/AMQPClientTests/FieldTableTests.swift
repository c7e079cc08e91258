@testable import AMQPClient
import Foundation
import Testing

@Suite("Field tables through librabbitmq's C structures")
struct FieldTableTests {
    static let everyKind: AMQPTable = [
        "bool": .bool(true),
        "int8": .int8(-8),
        "uint8": .uint8(200),
        "int16": .int16(-1600),
        "uint16": .uint16(65000),
        "int32": .int32(-320_000),
        "uint32": .uint32(4_000_000_000),
        "int64": .int64(-64_000_000_000),
        "uint64": .uint64(18_000_000_000_000_000_000),
        "float": .float(1.5),
        "double": .double(-2.25),
        "decimal": .decimal(scale: 2, value: 12345),
        "string": .string("héllo, wörld"),
        "bytes": .bytes([0, 1, 2, 255]),
        "timestamp": .timestamp(1_795_000_000),
        "void": .void,
        "array": .array([.string("a"), .int32(1), .table(["nested": .bool(false)]), .array([])]),
        "table": .table(["inner": .table(["deeper": .string("x")]), "empty": .table([:])]),
    ]

    @Test("every field kind survives encoding and decoding")
    func everyKindRoundTrips() {
        let arena = CArena()
        let decoded = AMQPTable(arena.table(Self.everyKind))
        #expect(decoded == Self.everyKind)
    }

    @Test("an empty or absent table encodes as the empty table")
    func emptyTable() {
        let arena = CArena()
        #expect(AMQPTable(arena.table([:])).isEmpty)
        #expect(AMQPTable(arena.table(nil)).isEmpty)
    }

    @Test("an x-death header as RabbitMQ writes it decodes into nested tables and arrays")
    func xDeathShape() {
        let xDeath: AMQPTable = ["x-death": .array([.table([
            "count": .int64(1), "reason": .string("rejected"), "queue": .string("q"),
            "time": .timestamp(1_795_000_000), "exchange": .string(""), "routing-keys": .array([.string("q")]),
        ])])]
        let arena = CArena()
        let decoded = AMQPTable(arena.table(xDeath))
        let death = decoded["x-death"]?.arrayValue?.first?.tableValue
        #expect(death?["reason"]?.stringValue == "rejected")
        #expect(death?["count"]?.intValue == 1)
        #expect(death?["time"]?.dateValue == Date(timeIntervalSince1970: 1_795_000_000))
        #expect(death?["routing-keys"]?.arrayValue == [.string("q")])
    }

    @Test("every property survives encoding and decoding")
    func propertiesRoundTrip() {
        let properties = AMQPProperties(
            contentType: "application/json", contentEncoding: "utf-8", headers: ["k": "v"],
            deliveryMode: .persistent, priority: 5, correlationID: "c", replyTo: "r", expiration: "60000",
            messageID: "m", timestamp: Date(timeIntervalSince1970: 1_795_000_000), type: "OrderPlaced",
            userID: "guest", appID: "order-api"
        )
        let arena = CArena()
        #expect(AMQPProperties(arena.properties(properties)) == properties)
        #expect(AMQPProperties(arena.properties(AMQPProperties())) == AMQPProperties())
    }
}
