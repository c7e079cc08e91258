import Foundation
import OrderEvents

/// The body of `POST /orders`, validated field by field (CONTRACT §2).
struct OrderRequest: Sendable, Hashable {
    let userID: String
    let item: String
    let quantity: Int

    struct Invalid: Error {
        let message: String
        let field: String?
    }

    init(json: Data) throws(Invalid) {
        let userID: String, item: String, quantity: Int
        do {
            let fields = try JSONObjectReader(parsing: json)
            userID = try fields.string("user_id")
            item = try fields.string("item")
            quantity = try fields.integer("quantity", ifAbsent: 1)
        } catch {
            switch error {
            case .missingField(let field): throw Invalid(message: "'\(field)' is required", field: field)
            case .wrongType(let field, let expected): throw Invalid(message: "'\(field)' must be \(expected)", field: field)
            default: throw Invalid(message: "the body is \(error)", field: nil)  // not a JSON object: …
            }
        }
        try Self.require(userID, named: "user_id")
        try Self.require(item, named: "item")
        guard (1...100).contains(quantity) else { throw Invalid(message: "'quantity' must be between 1 and 100", field: "quantity") }
        self.userID = userID
        self.item = item
        self.quantity = quantity
    }

    /// Free of control characters (no name needs them, and PostgreSQL's text cannot hold
    /// NUL), not blank, and at most 64 characters counted as JSON Schema counts them (Unicode
    /// code points), so the OpenAPI description states exactly these rules.
    private static func require(_ value: String, named field: String) throws(Invalid) {
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Invalid(message: "'\(field)' must not contain control characters", field: field)
        }
        guard !value.unicodeScalars.allSatisfy(\.properties.isWhitespace) else { throw Invalid(message: "'\(field)' must not be empty", field: field) }
        guard value.unicodeScalars.count <= 64 else { throw Invalid(message: "'\(field)' must be at most 64 characters", field: field) }
    }
}

/// `Idempotency-Key`: 1 to 255 printable ASCII characters.
enum IdempotencyKey {
    static func validate(_ key: String) -> Bool {
        (1...255).contains(key.utf8.count) && key.utf8.allSatisfy { (0x20...0x7E).contains($0) }
    }
}
