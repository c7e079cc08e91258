import Foundation

/// The body of `POST /orders`, validated field by field (CONTRACT §2).
struct OrderRequest: Sendable, Hashable {
    let userID: String
    let item: String
    let quantity: Int

    struct Invalid: Error {
        let message: String
        let field: String?
    }

    private enum Keys: String, CodingKey {
        case userID = "user_id", item, quantity
    }

    private struct Body: Decodable {
        let userID: String
        let item: String
        let quantity: Int?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            userID = try container.decode(String.self, forKey: .userID)
            item = try container.decode(String.self, forKey: .item)
            // Foundation reports a fractional number for an Int as invalid JSON with no field,
            // so the quantity is tried on its own.
            guard container.contains(.quantity) else {
                quantity = nil
                return
            }
            guard let number = try? container.decode(Int.self, forKey: .quantity) else {
                throw DecodingError.typeMismatch(Int.self, .init(codingPath: [Keys.quantity], debugDescription: "not an integer"))
            }
            quantity = number
        }
    }

    init(json: Data) throws(Invalid) {
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: json)
        } catch let DecodingError.keyNotFound(key, _) {
            throw Invalid(message: "'\(key.stringValue)' is required", field: key.stringValue)
        } catch let DecodingError.typeMismatch(type, context), let DecodingError.valueNotFound(type, context) {
            guard let field = context.codingPath.first?.stringValue else { throw Invalid(message: "the body must be a JSON object", field: nil) }
            throw Invalid(message: "'\(field)' must be \(type == Int.self ? "an integer" : "a string")", field: field)
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            let field = context.codingPath[0].stringValue
            throw Invalid(message: "'\(field)' must be \(field == "quantity" ? "an integer" : "a string")", field: field)
        } catch {
            throw Invalid(message: "the body is not valid JSON", field: nil)
        }
        try Self.require(body.userID, named: "user_id")
        try Self.require(body.item, named: "item")
        let quantity = body.quantity ?? 1
        guard (1...100).contains(quantity) else { throw Invalid(message: "'quantity' must be between 1 and 100", field: "quantity") }
        userID = body.userID
        item = body.item
        self.quantity = quantity
    }

    /// Free of control characters (no name needs them, and PostgreSQL's text cannot hold
    /// NUL), not blank, and at most 64 characters counted as JSON Schema counts them (Unicode
    /// code points), so the OpenAPI description states exactly these rules.
    private static func require(_ value: String, named field: String) throws(Invalid) {
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Invalid(message: "'\(field)' must not contain control characters", field: field)
        }
        guard !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw Invalid(message: "'\(field)' must not be empty", field: field) }
        guard value.unicodeScalars.count <= 64 else { throw Invalid(message: "'\(field)' must be at most 64 characters", field: field) }
    }
}

/// `Idempotency-Key`: 1 to 255 printable ASCII characters.
enum IdempotencyKey {
    static func validate(_ key: String) -> Bool {
        (1...255).contains(key.utf8.count) && key.utf8.allSatisfy { (0x20...0x7E).contains($0) }
    }
}
