public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension UUID {
    /// A new random (version 4) id, its 16 bytes from one call to the system's random source.
    /// Foundation's `UUID()` opens, reads and closes `/dev/urandom` for each id on Linux: three
    /// system calls, and every order takes two ids on the API's busiest path.
    public static func random() -> UUID {
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { bytes in
            arc4random_buf(bytes.baseAddress!, bytes.count)
            bytes[6] = bytes[6] & 0x0F | 0x40  // version 4
            bytes[8] = bytes[8] & 0x3F | 0x80  // the RFC 9562 variant
        }
        return UUID(uuid: bytes)
    }

    /// The id as the system writes it everywhere (events, the API, logs):
    /// `0b7e3a9c-2f5e-4d1a-9c3b-1f2e3d4c5b6a`. Written by hand: Foundation's `uuidString`
    /// goes through `sprintf`, and every event handled wrote several.
    public var lowercasedText: String {
        let digits = JSONText.lowercaseDigits
        return String(unsafeUninitializedCapacity: 36) { text in
            withUnsafeBytes(of: uuid) { bytes in
                var position = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        text[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    text[position] = digits[Int(bytes[index] >> 4)]
                    text[position + 1] = digits[Int(bytes[index] & 0x0F)]
                    position += 2
                }
                return position
            }
        }
    }

    /// Reads the 8-4-4-4-12 hexadecimal form in either case, as `UUID(uuidString:)` does,
    /// without its `sscanf`; nil for anything else.
    public init?(text: String) {
        self.init(text: text[...])
    }

    public init?(text: Substring) {
        var text = text
        let parsed = text.withUTF8 { characters -> uuid_t? in
            guard characters.count == 36 else { return nil }
            var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let complete = withUnsafeMutableBytes(of: &bytes) { bytes in
                var position = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        guard characters[position] == UInt8(ascii: "-") else { return false }
                        position += 1
                    }
                    guard let high = JSONText.hexadecimalValue(characters[position]), let low = JSONText.hexadecimalValue(characters[position + 1]) else { return false }
                    bytes[index] = high << 4 | low
                    position += 2
                }
                return true
            }
            return complete ? bytes : nil
        }
        guard let parsed else { return nil }
        self.init(uuid: parsed)
    }
}
