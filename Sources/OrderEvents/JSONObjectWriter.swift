public import Foundation

/// One flat JSON object of strings and integers, written by hand (`JSONEncoder` took about a
/// tenth of a busy worker's time). The fields leave sorted by name, as `JSONEncoder`'s
/// `.sortedKeys` writes them, so the same event is always the same bytes; strings are escaped
/// as `JSONEncoder` escapes them with `.withoutEscapingSlashes`.
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
            Self.append(string: field.name, to: &json)
            json.append(UInt8(ascii: ":"))
            switch field.value {
            case .string(let text): Self.append(string: text, to: &json)
            case .integer(let number): json.append(contentsOf: String(number).utf8)
            }
        }
        json.append(UInt8(ascii: "}"))
        return Data(json)
    }

    private static func append(string: String, to json: inout [UInt8]) {
        json.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): json.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): json.append(contentsOf: #"\\"#.utf8)
            case 0x08: json.append(contentsOf: #"\b"#.utf8)
            case 0x0C: json.append(contentsOf: #"\f"#.utf8)
            case 0x0A: json.append(contentsOf: #"\n"#.utf8)
            case 0x0D: json.append(contentsOf: #"\r"#.utf8)
            case 0x09: json.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                json.append(contentsOf: #"\u00"#.utf8)
                json.append(hex[Int(byte >> 4)])
                json.append(hex[Int(byte & 0xF)])
            default: json.append(byte)
            }
        }
        json.append(UInt8(ascii: "\""))
    }
}
