public import Foundation

/// One flat JSON object of strings and integers, written by hand (`JSONEncoder` took about a
/// tenth of a busy worker's time). The fields leave sorted by name, as `JSONEncoder`'s
/// `.sortedKeys` writes them, so the same event is always the same bytes; strings are escaped
/// as `JSONEncoder` escapes them (`JSONText`).
public struct JSONObjectWriter: Sendable {
    private enum Value: Sendable {
        case string(String)
        case integer(Int)
    }

    private var fields: [(name: String, value: Value)] = []

    public init() {}

    public mutating func write(_ name: String, _ value: String) {
        fields.append((name, .string(value)))
    }

    public mutating func write(_ name: String, _ value: Int) {
        fields.append((name, .integer(value)))
    }

    public var data: Data {
        var json: [UInt8] = [UInt8(ascii: "{")]
        json.reserveCapacity(320)
        for (position, field) in fields.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }).enumerated() {
            if position > 0 { json.append(UInt8(ascii: ",")) }
            JSONText.appendString(field.name, to: &json)
            json.append(UInt8(ascii: ":"))
            switch field.value {
            case .string(let text): JSONText.appendString(text, to: &json)
            case .integer(let number): json.append(contentsOf: String(number).utf8)
            }
        }
        json.append(UInt8(ascii: "}"))
        return Data(json)
    }
}
