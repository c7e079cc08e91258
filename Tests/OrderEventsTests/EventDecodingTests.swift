import AMQPClient
import Foundation
import OrderEvents
import Testing

@Suite("Events: round trips and strict decoding")
struct EventDecodingTests {
    static let orderID = UUID()
    static let placed = Event(
        metadata: EventMetadata(orderID: orderID, timestamp: Date(timeIntervalSince1970: 1_795_000_000.123)),
        payload: OrderPlaced(userID: "u1", item: "Pizza", quantity: 2)
    )

    static let everyEvent: [OrderEvent] = [
        .orderPlaced(placed),
        .inventoryReserved(Event(
            metadata: EventMetadata(orderID: orderID, causationID: placed.metadata.eventID),
            payload: InventoryReserved(userID: "u1", item: "Pizza", quantity: 2)
        )),
        .inventoryFailed(Event(
            metadata: EventMetadata(orderID: orderID, causationID: placed.metadata.eventID),
            payload: InventoryFailed(userID: "u1", item: "Pizza", quantity: 2, reason: .insufficientStock)
        )),
        .notificationSent(Event(
            metadata: EventMetadata(orderID: orderID, causationID: UUID()),
            payload: NotificationSent(userID: "u1", channel: "log", outcome: .reserved)
        )),
    ]

    static func body(of event: OrderEvent) -> Data {
        switch event {
        case .orderPlaced(let e): e.encoded()
        case .inventoryReserved(let e): e.encoded()
        case .inventoryFailed(let e): e.encoded()
        case .notificationSent(let e): e.encoded()
        }
    }

    /// A valid OrderPlaced as a JSON object, to break one field at a time.
    static func placedJSON() throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: placed.encoded()) as? [String: Any])
    }

    static func decode(_ object: [String: Any]) throws(EventDecodingError) -> OrderEvent {
        try OrderEvent(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data())
    }

    @Test("every event survives encoding and decoding", arguments: everyEvent)
    func roundTrip(event: OrderEvent) throws {
        #expect(try OrderEvent(decoding: Self.body(of: event)) == event)
    }

    @Test("the wire form is one flat snake_case object with the common fields")
    func wireForm() throws {
        let json = try Self.placedJSON()
        #expect(json["event_type"] as? String == "OrderPlaced")
        #expect(json["schema_version"] as? Int == 1)
        #expect(json["order_id"] as? String == Self.orderID.uuidString.lowercased())
        #expect(json["event_id"] as? String == Self.placed.metadata.eventID.uuidString.lowercased())
        #expect(json["user_id"] as? String == "u1")
        #expect(json["quantity"] as? Int == 2)
        #expect(json["timestamp"] as? String == "2026-11-18T11:06:40.123Z")
        #expect(json["causation_id"] == nil, "OrderPlaced has no cause")
    }

    @Test("timestamps are written in UTC with exactly three fractional digits", arguments: [
        (1_795_000_000.0, "2026-11-18T11:06:40.000Z"), (1_795_000_000.007, "2026-11-18T11:06:40.007Z"),
        (1_795_000_000.0999, "2026-11-18T11:06:40.100Z"), (1_795_000_000.9996, "2026-11-18T11:06:41.000Z"),
    ])
    func timestampFormat(seconds: Double, text: String) {
        #expect(EventCoding.formatTimestamp(Date(timeIntervalSince1970: seconds)) == text)
    }

    @Test("timestamps agree with Foundation's ISO-8601 format from 1900 to 2300")
    func timestampsAgreeWithFoundation() {
        // Steps of 73 days and some hours, minutes, seconds and milliseconds, leap days included.
        for step in 0..<2_000 {
            let milliseconds = -2_208_988_800_000 + Int64(step) * 6_311_390_123
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            let whole = Date(timeIntervalSince1970: Double(milliseconds.quotientRoundingDown(by: 1000)))
            let fraction = milliseconds - milliseconds.quotientRoundingDown(by: 1000) * 1000
            let foundation = "\(whole.formatted(Date.ISO8601FormatStyle()).dropLast())." + String(format: "%03dZ", fraction)
            #expect(EventCoding.formatTimestamp(date) == foundation)
        }
    }

    @Test("timestamps read back as written, and as Foundation reads them, from 1900 to 2300")
    func timestampsReadBack() throws {
        for step in 0..<2_000 {
            let date = EventCoding.wholeMilliseconds(Date(timeIntervalSince1970: -2_208_988_800 + Double(step) * 6_311_390.123))
            let text = EventCoding.formatTimestamp(date)
            let foundation = try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
            #expect(EventCoding.parseTimestamp(text) == date)
            #expect(EventCoding.wholeMilliseconds(foundation) == date, "\(text)")
        }
    }

    @Test("a timestamp outside the written form is read as Foundation reads it", arguments: [
        "2026-02-29T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-04-31T00:00:00.000Z", "2026-11-18T24:00:00.000Z",
        "2026-11-18T11:60:00.000Z", "2026-11-18 11:06:40.000Z", "2026-11-18T11:06:40.000", "2026-11-18T11:06:40.5Z", "yesterday",
    ])
    func otherTimestamps(text: String) {
        let foundation = (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
        #expect(EventCoding.parseTimestamp(text) == foundation)
    }

    @Test("a leap day is a date")
    func leapDay() {
        #expect(EventCoding.parseTimestamp("2024-02-29T23:59:59.999Z") == Date(timeIntervalSince1970: 1_709_251_199.999))
    }

    /// Strings that JSON must escape, or that must pass through unescaped.
    static let awkwardStrings = [
        #"quote " and backslash \"#, "slash / and tab \t and newline \n", "nul \u{0} and unit separator \u{1F} and delete \u{7F}",
        "é, 日本, 😀 and line separator \u{2028}", String((0..<32).map { Character(Unicode.Scalar($0)!) }),
    ]

    @Test("awkward strings are written as valid JSON and read back", arguments: awkwardStrings)
    func awkwardStringsRoundTrip(text: String) throws {
        let event = Event(metadata: Self.placed.metadata, payload: OrderPlaced(userID: text, item: text, quantity: 1))
        let json = try #require(JSONSerialization.jsonObject(with: event.encoded()) as? [String: Any])
        #expect(json["user_id"] as? String == text)
        #expect(try OrderEvent(decoding: event.encoded()) == .orderPlaced(event))
    }

    @Test("strings escaped as other JSON writers escape them are read", arguments: awkwardStrings)
    func othersEscapes(text: String) throws {
        var json = try Self.placedJSON()
        json["item"] = text
        let event = try Self.decode(json)
        #expect(event.item == text)
    }

    @Test("every JSON escape is read, surrogate pairs included")
    func escapes() throws {
        let body = String(decoding: Self.placed.encoded(), as: UTF8.self)
            .replacingOccurrences(of: #""item":"Pizza""#, with: #""item":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#)
        #expect(try OrderEvent(decoding: Data(body.utf8)).item == "\"\\/\u{8}\u{C}\n\r\té😀")
    }

    @Test("what is not one JSON object is not JSON", arguments: [
        "", "{", #"{"a":1,}"#, #"{"a" 1}"#, #"{"a":1} x"#, #"{"a":"\ud83d"}"#, #"{"a":"\x"}"#, "{\"a\":\"\u{1}\"}",
        #"{"a":01}"#, #"{"a":1.}"#, #"{"a":tru}"#, #"{"a":[1,]}"#, String(repeating: #"{"a":["#, count: 70),
    ])
    func malformed(body: String) {
        #expect { try OrderEvent(decoding: Data(body.utf8)) } throws: { error in
            if case .notJSON = error as? EventDecodingError { true } else { false }
        }
    }

    @Test("a string that is not UTF-8 is not JSON", arguments: [[0xFF], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC0, 0xAF]] as [[UInt8]])
    func notUTF8(bytes: [UInt8]) {
        let body = Data(#"{"event_type":""#.utf8) + Data(bytes) + Data(#""}"#.utf8)
        #expect { try OrderEvent(decoding: body) } throws: { error in
            if case .notJSON = error as? EventDecodingError { true } else { false }
        }
    }

    @Test("a repeated field counts once, the last")
    func repeatedField() throws {
        let body = String(decoding: Self.placed.encoded(), as: UTF8.self).replacingOccurrences(of: #""item":"Pizza""#, with: #""item":"Soup","item":"Pizza""#)
        #expect(try OrderEvent(decoding: Data(body.utf8)) == .orderPlaced(Self.placed))
    }

    @Test("unknown fields of any shape are passed over")
    func unknownShapes() throws {
        var json = try Self.placedJSON()
        json["extra"] = ["nested": [1, 2.5, -3e2, true, false, NSNull(), ["deep": "x"]], "empty": [String: Int]()]
        json["list"] = [[String]()]
        #expect(try Self.decode(json) == .orderPlaced(Self.placed))
    }

    @Test("unknown fields are ignored")
    func unknownFields() throws {
        var json = try Self.placedJSON()
        json["coupon"] = "SPRING"
        #expect(try Self.decode(json) == .orderPlaced(Self.placed))
    }

    @Test("a timestamp without fractional seconds is accepted")
    func timestampWithoutFraction() throws {
        var json = try Self.placedJSON()
        json["timestamp"] = "2026-11-18T11:06:40Z"
        #expect(try Self.decode(json).metadata.timestamp == Date(timeIntervalSince1970: 1_795_000_000))
    }

    @Test("a body that is not JSON")
    func notJSON() {
        #expect { try OrderEvent(decoding: Data("{not json".utf8)) } throws: { error in
            if case .notJSON = error as? EventDecodingError { true } else { false }
        }
        #expect { try OrderEvent(decoding: Data("[1, 2]".utf8)) } throws: { error in
            if case .notJSON = error as? EventDecodingError { true } else { false }
        }
    }

    @Test("a missing field is named", arguments: ["event_type", "schema_version", "event_id", "order_id", "timestamp", "user_id", "item", "quantity"])
    func missingField(field: String) throws {
        var json = try Self.placedJSON()
        json[field] = nil
        #expect(throws: EventDecodingError.missingField(field)) { try Self.decode(json) }
    }

    @Test("a wrongly typed field is named")
    func wrongType() throws {
        var json = try Self.placedJSON()
        json["quantity"] = "two"
        #expect(throws: EventDecodingError.wrongType(field: "quantity", expected: "an integer")) { try Self.decode(json) }
        json = try Self.placedJSON()
        json["user_id"] = 42
        #expect(throws: EventDecodingError.wrongType(field: "user_id", expected: "a string")) { try Self.decode(json) }
        json = try Self.placedJSON()
        json["quantity"] = 2.5
        #expect(throws: EventDecodingError.wrongType(field: "quantity", expected: "an integer")) { try Self.decode(json) }
        json = try Self.placedJSON()
        json["item"] = NSNull()
        #expect(throws: EventDecodingError.wrongType(field: "item", expected: "a string")) { try Self.decode(json) }
    }

    @Test("invalid values are named", arguments: [("order_id", "not-a-uuid"), ("timestamp", "yesterday"), ("item", ""), ("user_id", "")])
    func invalidValue(field: String, value: String) throws {
        var json = try Self.placedJSON()
        json[field] = value
        #expect { try Self.decode(json) } throws: { error in
            if case .invalidValue(let named, _) = error as? EventDecodingError { named == field } else { false }
        }
    }

    @Test("a quantity below one is an invalid value")
    func quantityBelowOne() throws {
        var json = try Self.placedJSON()
        json["quantity"] = 0
        #expect(throws: EventDecodingError.invalidValue(field: "quantity", reason: "must be at least 1, got 0")) { try Self.decode(json) }
    }

    @Test("an unknown event type")
    func unknownType() throws {
        var json = try Self.placedJSON()
        json["event_type"] = "OrderShipped"
        #expect(throws: EventDecodingError.unknownEventType("OrderShipped")) { try Self.decode(json) }
    }

    @Test("a newer schema version")
    func newerSchema() throws {
        var json = try Self.placedJSON()
        json["schema_version"] = 2
        #expect(throws: EventDecodingError.unsupportedSchemaVersion(2)) { try Self.decode(json) }
    }

    @Test("an unknown failure reason is an invalid value")
    func unknownReason() throws {
        guard case .inventoryFailed(let failed) = Self.everyEvent[2] else {
            Issue.record("fixture changed")
            return
        }
        var json = try #require(JSONSerialization.jsonObject(with: failed.encoded()) as? [String: Any])
        json["reason"] = "out_of_luck"
        #expect { try Self.decode(json) } throws: { error in
            if case .invalidValue(let field, _) = error as? EventDecodingError { field == "reason" } else { false }
        }
    }

    @Test("the AMQP properties of an event follow the contract")
    func properties() {
        let properties = Self.placed.properties(appID: "order-api")
        #expect(properties.contentType == "application/json")
        #expect(properties.deliveryMode == .persistent)
        #expect(properties.messageID == Self.placed.metadata.eventID.uuidString.lowercased())
        #expect(properties.type == "OrderPlaced")
        #expect(properties.appID == "order-api")
        #expect(properties.timestamp == Self.placed.metadata.timestamp)
    }
}

extension Int64 {
    fileprivate func quotientRoundingDown(by divisor: Int64) -> Int64 {
        self % divisor < 0 ? self / divisor - 1 : self / divisor
    }
}
