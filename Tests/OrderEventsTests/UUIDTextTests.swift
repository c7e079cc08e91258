import Foundation
import OrderEvents
import Testing

@Suite("Ids as text: written and read as Foundation writes and reads them")
struct UUIDTextTests {
    @Test("written in lowercase, as uuidString spells it")
    func written() {
        for _ in 0..<1_000 {
            let id = UUID()
            #expect(id.lowercasedText == id.uuidString.lowercased())
        }
    }

    @Test("new ids are random: version 4, the RFC 9562 variant, no two alike")
    func random() {
        var seen = Set<UUID>()
        for _ in 0..<10_000 {
            let id = UUID.random()
            let text = Array(id.lowercasedText.utf8)
            #expect(text[14] == UInt8(ascii: "4"))
            #expect(Array("89ab".utf8).contains(text[19]))
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
    }

    @Test("read in either case")
    func read() {
        for _ in 0..<1_000 {
            let id = UUID()
            #expect(UUID(text: id.uuidString) == id)
            #expect(UUID(text: id.lowercasedText) == id)
        }
    }

    @Test("what UUID(uuidString:) refuses is refused", arguments: [
        "", "0b7e3a9c-2f5e-4d1a-9c3b-1f2e3d4c5b6", "0b7e3a9c-2f5e-4d1a-9c3b-1f2e3d4c5b6a0", "0b7e3a9c2f5e-4d1a-9c3b-1f2e3d4c5b6a0",
        "0b7e3a9c-2f5e-4d1a-9c3b_1f2e3d4c5b6a", "0g7e3a9c-2f5e-4d1a-9c3b-1f2e3d4c5b6a", "0b7e3a9c-2f5e-4d1a-9c3b-1f2e3d4c5b6a ",
        "{0b7e3a9c-2f5e-4d1a-9c3b-1f2e3d4c5b6}",
    ])
    func refused(text: String) {
        #expect(UUID(uuidString: text) == nil)
        #expect(UUID(text: text) == nil)
    }
}
