public import Foundation

/// Why a message is in a dead-letter queue.
public enum DeadLetterReason: String, Sendable, Hashable, CaseIterable, Codable {
    /// A consumer could not decode or process it at all (sent on at once, never retried).
    case poison
    /// It failed transiently `MAX_ATTEMPTS` times.
    case retriesExhausted = "retries_exhausted"
    /// The broker expired it: it waited longer than its TTL (`ORDER_TTL`).
    case expired
    /// The broker delivered it `DELIVERY_LIMIT` times without an acknowledgement, for example
    /// because it crashed its consumer each time.
    case deliveryLimit = "delivery_limit"
    /// A consumer rejected it without requeueing.
    case rejected
    /// The queue was full.
    case maxlen
}

/// What a dead letter's headers say about it (`FailureHeaders.deadLetter`): the one reading
/// of them shared by the order status projection and `dlq-inspector`.
public struct DeadLetter: Sendable, Hashable {
    /// Nil when neither a consumer nor the broker said why.
    public let reason: DeadLetterReason?
    public let error: String?
    public let failedBy: String?
    public let attempts: Int?
    public let firstFailure: Date?
    public let originalExchange: String?
    public let originalRoutingKey: String?
    public let replays: Int

    /// The reason and the error in one phrase, for people.
    public var summary: String {
        let reason = reason?.rawValue ?? "unknown"
        return error.map { "\(reason): \($0)" } ?? reason
    }
}
