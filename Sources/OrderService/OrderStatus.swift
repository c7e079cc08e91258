/// Where an order stands (CONTRACT §2). Statuses only move forward: `accepted`, then
/// `failed` or `expired` (which a replay can still move on, or a later dead-lettering replace),
/// then `reserved` or `rejected` (final). A late or duplicated event never moves a status back.
enum OrderStatus: String, Codable, Sendable, CaseIterable {
    case accepted, reserved, rejected, failed, expired

    var rank: Int {
        switch self {
        case .accepted: 0
        case .failed, .expired: 1
        case .reserved, .rejected: 2
        }
    }

    /// Whether the order's event was dead-lettered: it waits for an operator.
    var isDeadLettered: Bool { rank == 1 }

    func canMove(to next: OrderStatus) -> Bool { next.rank > rank }
}
