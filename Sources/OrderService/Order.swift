import Foundation
import OrderEvents

/// An order as `GET /orders/{id}` shows it.
struct Order: Sendable, Hashable, Encodable {
    struct Step: Sendable, Hashable, Encodable {
        let status: String
        let at: Date
        let detail: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(status, forKey: .status)
            try container.encode(at, forKey: .at)
            try container.encode(detail, forKey: .detail)
        }

        enum CodingKeys: String, CodingKey { case status, at, detail }
    }

    let orderID: UUID
    let userID: String
    let item: String
    let quantity: Int
    let status: OrderStatus
    let reason: String?
    let createdAt: Date
    let updatedAt: Date
    let notifiedAt: Date?
    /// Nil in list views, which leave history out.
    var history: [Step]?

    enum CodingKeys: String, CodingKey {
        case orderID = "order_id", userID = "user_id", item, quantity, status, reason
        case createdAt = "created_at", updatedAt = "updated_at", notifiedAt = "notified_at", history
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(orderID.lowercasedText, forKey: .orderID)
        try container.encode(userID, forKey: .userID)
        try container.encode(item, forKey: .item)
        try container.encode(quantity, forKey: .quantity)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(reason, forKey: .reason)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(notifiedAt, forKey: .notifiedAt)  // null until notified
        try container.encodeIfPresent(history, forKey: .history)
    }

    var isFinished: Bool { notifiedAt != nil }
}
