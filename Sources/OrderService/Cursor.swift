import Foundation
import OrderEvents

/// Where a page of `GET /orders` ends: the last order's creation time and id, as an opaque
/// string `<milliseconds>_<uuid>`.
struct Cursor: Sendable, Hashable {
    let createdAt: Date
    let orderID: UUID

    init(createdAt: Date, orderID: UUID) {
        self.createdAt = createdAt
        self.orderID = orderID
    }

    init?(_ text: String) {
        let parts = text.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, (1...15).contains(parts[0].count), parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
              let milliseconds = Int64(parts[0]), let orderID = UUID(text: parts[1]) else { return nil }
        self.init(createdAt: Date(timeIntervalSince1970: Double(milliseconds) / 1000), orderID: orderID)
    }

    var text: String {
        "\(Int64((createdAt.timeIntervalSince1970 * 1000).rounded()))_\(orderID.lowercasedText)"
    }
}
