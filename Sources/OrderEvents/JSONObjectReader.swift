public import Foundation

/// The fields of one flat JSON object (an event's wire form, CONTRACT §3), parsed by hand:
/// `JSONDecoder`'s generic machinery took about a tenth of a busy consumer's time. Strings,
/// numbers, booleans and `null` are kept; an object or array in a field (one this code does
/// not know) is checked and skipped. What is not JSON, or not an object, is `notJSON`; the
/// typed reads name the field that is missing, mistyped or invalid. (`POST /orders` reads its
/// flat body with it too.)
public struct JSONObjectReader: Sendable {
    enum Value: Sendable {
        case string(String)
        /// The number's literal text, as JSON wrote it.
        case number(String)
        case boolean
        case null
        /// An object or an array.
        case composite
    }

    /// In the order written. A handful of fields, so a search beats hashing every name.
    private let fields: [(name: String, value: Value)]

    public init(parsing body: Data) throws(EventDecodingError) {
        let parsed: Result<[(name: String, value: Value)], EventDecodingError> = body.withUnsafeBytes { bytes in
            var scanner = JSONScanner(bytes: bytes)
            do throws(EventDecodingError) {
                return .success(try scanner.readDocument())
            } catch {
                return .failure(error)
            }
        }
        fields = try parsed.get()
    }

    public func string(_ field: String) throws(EventDecodingError) -> String {
        switch value(of: field) {
        case nil: throw .missingField(field)
        case .string(let value): value
        default: throw .wrongType(field: field, expected: "a string")
        }
    }

    /// nil when the field is absent or `null`.
    public func optionalString(_ field: String) throws(EventDecodingError) -> String? {
        switch value(of: field) {
        case nil, .null: nil
        default: try string(field)
        }
    }

    public func integer(_ field: String) throws(EventDecodingError) -> Int {
        switch value(of: field) {
        case nil: throw .missingField(field)
        case .number(let text):
            // An integer as JSON Schema counts one: `2.0` and `2e0` are 2.
            guard let value = Int(text) ?? Double(text).flatMap({ Int(exactly: $0) }) else { throw .wrongType(field: field, expected: "an integer") }
            return value
        default: throw .wrongType(field: field, expected: "an integer")
        }
    }

    /// `defaultValue` when the field is absent (but not when it is `null`).
    public func integer(_ field: String, ifAbsent defaultValue: Int) throws(EventDecodingError) -> Int {
        value(of: field) == nil ? defaultValue : try integer(field)
    }

    public func uuid(_ field: String) throws(EventDecodingError) -> UUID {
        try Self.uuid(string(field), field: field)
    }

    public func optionalUUID(_ field: String) throws(EventDecodingError) -> UUID? {
        try optionalString(field).map { text throws(EventDecodingError) in try Self.uuid(text, field: field) }
    }

    /// An ISO-8601 timestamp (`EventCoding.parseTimestamp`).
    public func timestamp(_ field: String) throws(EventDecodingError) -> Date {
        let text = try string(field)
        guard let date = EventCoding.parseTimestamp(text) else {
            throw .invalidValue(field: field, reason: "expected an ISO-8601 timestamp, got '\(text)'")
        }
        return date
    }

    /// One of the cases of a string enumeration.
    public func oneOf<Choice: RawRepresentable & CaseIterable>(_ field: String) throws(EventDecodingError) -> Choice where Choice.RawValue == String {
        let text = try string(field)
        guard let choice = Choice(rawValue: text) else {
            let allowed = Choice.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            throw .invalidValue(field: field, reason: "expected one of \(allowed), got '\(text)'")
        }
        return choice
    }

    /// The field's value; the last one when a name is repeated.
    private func value(of field: String) -> Value? {
        fields.last { $0.name == field }?.value
    }

    private static func uuid(_ text: String, field: String) throws(EventDecodingError) -> UUID {
        guard let uuid = UUID(text: text) else { throw .invalidValue(field: field, reason: "expected a UUID, got '\(text)'") }
        return uuid
    }
}

/// Reads one JSON document (RFC 8259) whose top level is an object, byte by byte.
private struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    /// Deeper than this, an unknown field's value is refused rather than followed.
    static let maximumDepth = 64

    mutating func readDocument() throws(EventDecodingError) -> [(name: String, value: JSONObjectReader.Value)] {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw .notJSON("expected an object, got \(describeNext())") }
        let fields = try readObject(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw unexpected() }
        return fields
    }

    /// An object's fields, its values `depth + 1` levels down.
    private mutating func readObject(depth: Int) throws(EventDecodingError) -> [(name: String, value: JSONObjectReader.Value)] {
        var fields: [(name: String, value: JSONObjectReader.Value)] = []
        fields.reserveCapacity(12)
        try readElements(until: UInt8(ascii: "}")) { scanner throws(EventDecodingError) in
            guard scanner.peek() == UInt8(ascii: "\"") else { throw scanner.unexpected() }
            let name = try scanner.readString()
            scanner.skipWhitespace()
            try scanner.expect(UInt8(ascii: ":"))
            scanner.skipWhitespace()
            fields.append((name, try scanner.readValue(depth: depth + 1)))
        }
        return fields
    }

    /// Reads the elements of an object or an array, from its opening bracket to `close`,
    /// with `element`, which reads one.
    private mutating func readElements(
        until close: UInt8, _ element: (inout JSONScanner) throws(EventDecodingError) -> Void
    ) throws(EventDecodingError) {
        index += 1  // { or [
        skipWhitespace()
        if peek() == close {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            try element(&self)
            skipWhitespace()
            guard let next = peek() else { throw unexpected() }
            if next == close {
                index += 1
                return
            }
            guard next == UInt8(ascii: ",") else { throw unexpected() }
            index += 1
        }
    }

    private mutating func readValue(depth: Int) throws(EventDecodingError) -> JSONObjectReader.Value {
        guard let next = peek() else { throw unexpected() }
        switch next {
        case UInt8(ascii: "\""): return .string(try readString())
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            // An object or array in a field: checked and passed over.
            guard depth <= Self.maximumDepth else { throw .notJSON("nested deeper than \(Self.maximumDepth) levels") }
            if next == UInt8(ascii: "{") {
                _ = try readObject(depth: depth)
            } else {
                try readElements(until: UInt8(ascii: "]")) { scanner throws(EventDecodingError) in _ = try scanner.readValue(depth: depth + 1) }
            }
            return .composite
        case UInt8(ascii: "t"):
            try readLiteral("true")
            return .boolean
        case UInt8(ascii: "f"):
            try readLiteral("false")
            return .boolean
        case UInt8(ascii: "n"):
            try readLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try readNumber())
        default:
            throw unexpected()
        }
    }

    private mutating func readString() throws(EventDecodingError) -> String {
        index += 1  // "
        let start = index
        // Most strings have no escapes: their bytes are taken whole.
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\"), bytes[index] >= 0x20 {
            index += 1
        }
        guard index < bytes.count else { throw unexpected() }
        if bytes[index] == UInt8(ascii: "\"") {
            index += 1
            guard let text = Self.text(UnsafeRawBufferPointer(rebasing: bytes[start..<(index - 1)])) else { throw notUTF8() }
            return text
        }
        var utf8 = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while bytes[index] != UInt8(ascii: "\"") {
            let byte = bytes[index]
            guard byte >= 0x20 else { throw .notJSON("a control character in a string at byte \(index)") }
            index += 1
            if byte == UInt8(ascii: "\\") {
                try appendEscape(to: &utf8)
            } else {
                utf8.append(byte)
            }
            guard index < bytes.count else { throw unexpected() }
        }
        index += 1  // "
        guard let text = utf8.withUnsafeBytes({ Self.text($0) }) else { throw notUTF8() }
        return text
    }

    /// The bytes as a string, if they are UTF-8. (Decoded, repaired if need be, and
    /// compared: `String(validating:)` is generic, and cost more than the rest of a string's read.)
    private static func text(_ utf8: UnsafeRawBufferPointer) -> String? {
        var text = String(decoding: utf8.bindMemory(to: UInt8.self), as: UTF8.self)
        let valid = text.withUTF8 { decoded in decoded.count == utf8.count && (utf8.isEmpty || memcmp(decoded.baseAddress!, utf8.baseAddress!, utf8.count) == 0) }
        return valid ? text : nil
    }

    private func notUTF8() -> EventDecodingError {
        .notJSON("a string that is not UTF-8 before byte \(index)")
    }

    private mutating func appendEscape(to utf8: inout [UInt8]) throws(EventDecodingError) {
        guard let escape = peek() else { throw unexpected() }
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try readHexQuad()
            if (0xD800...0xDBFF).contains(scalar) {
                // A high surrogate must be followed by an escaped low one.
                guard peek() == UInt8(ascii: "\\") else { throw .notJSON("a lone surrogate in a string before byte \(index)") }
                index += 1
                guard peek() == UInt8(ascii: "u") else { throw unexpected() }
                index += 1
                let low = try readHexQuad()
                guard (0xDC00...0xDFFF).contains(low) else { throw .notJSON("a lone surrogate in a string before byte \(index)") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw .notJSON("a lone surrogate in a string before byte \(index)") }
            utf8.append(contentsOf: UTF8.encode(unicode)!)
        default:
            index -= 1
            throw unexpected()
        }
    }

    private mutating func readHexQuad() throws(EventDecodingError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = JSONText.hexadecimalValue(byte) else { throw unexpected() }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, returned as written.
    private mutating func readNumber() throws(EventDecodingError) -> String {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        if peek() == UInt8(ascii: "0") {
            index += 1
        } else {
            try readDigits()
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            try readDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            try readDigits()
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func readDigits() throws(EventDecodingError) {
        guard let first = peek(), Self.isDigit(first) else { throw unexpected() }
        while let byte = peek(), Self.isDigit(byte) { index += 1 }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private mutating func readLiteral(_ literal: String) throws(EventDecodingError) {
        for expected in literal.utf8 {
            guard peek() == expected else { throw unexpected() }
            index += 1
        }
    }

    private mutating func expect(_ byte: UInt8) throws(EventDecodingError) {
        guard peek() == byte else { throw unexpected() }
        index += 1
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func unexpected() -> EventDecodingError {
        .notJSON("unexpected \(describeNext()) at byte \(index)")
    }

    private func describeNext() -> String {
        guard let byte = peek() else { return "end of input" }
        return (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : String(format: "byte 0x%02x", byte)
    }
}
