import Foundation
import Logging
@testable import ServiceRuntime
import Testing

@Suite("JSON log lines")
struct JSONLogLineTests {
    @Test("one line of JSON with its keys sorted, nested ones too")
    func sortedKeys() {
        let line = String(decoding: JSONLogHandler.line([
            "nested": .dictionary(["b": .string("2"), "a": .string("1")]),
            "count": .stringConvertible(42),
            "items": .array([.string("Burger"), .string("Sushi")]),
        ]), as: UTF8.self)
        #expect(line == #"{"count":"42","items":["Burger","Sushi"],"nested":{"a":"1","b":"2"}}"# + "\n")
    }

    @Test("any text is escaped so that it reads back unchanged, on one line")
    func escaping() throws {
        let awkward = "quote \" backslash \\ slash / newline \n return \r tab \t bell \u{7} café 🍣"
        let line = String(decoding: JSONLogHandler.line(["message": .string(awkward), "path/to": .string("x")]), as: UTF8.self)
        #expect(line.dropLast().contains("\n") == false)
        #expect(line.contains(#"\u0007"#) && line.contains("café 🍣") && line.contains("slash /"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object == ["message": awkward, "path/to": "x"])
    }
}
