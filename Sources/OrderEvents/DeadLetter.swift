public import AMQPClient
public import Foundation

/// The headers a consumer writes on a message it sends to a retry queue or to a dead-letter
/// queue, besides the broker's own `x-death`.
public enum FailureHeader {
    /// What went wrong the last time.
    public static let error = "x-error"
    /// The service that failed the message.
    public static let failedBy = "x-failed-by"
    /// How many times the message was handled and failed.
    public static let attempts = "x-attempts"
    /// When it failed first (ISO-8601 UTC).
    public static let firstFailure = "x-first-failure"
    /// Why a consumer dead-lettered it: a `DeadLetterReason`.
    public static let reason = "x-reason"
    /// Where it was published first, before any retry or dead-lettering.
    public static let originalExchange = "x-original-exchange"
    public static let originalRoutingKey = "x-original-routing-key"
    /// How many times an operator replayed it from a dead-letter queue.
    public static let replays = "x-replays"

    /// The headers that describe one journey through the system; a replay starts a new one.
    public static let journey = [
        error, failedBy, attempts, firstFailure, reason, originalExchange, originalRoutingKey,
        "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
        "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-delivery-count",
    ]
}

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

/// What a dead letter's headers say about it: the one reading of them shared by the order
/// status projection and `dlq-inspector`.
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

    public init(headers: AMQPTable) {
        // The broker keeps one x-death entry per queue and reason, the latest first.
        let deaths = headers["x-death"]?.arrayValue?.compactMap(\.tableValue) ?? []
        let latest = deaths.first
        let oldest = deaths.last
        reason = (headers[FailureHeader.reason]?.stringValue ?? latest?["reason"]?.stringValue).flatMap(DeadLetterReason.init(rawValue:))
        error = headers[FailureHeader.error]?.stringValue
        failedBy = headers[FailureHeader.failedBy]?.stringValue
        attempts = headers[FailureHeader.attempts]?.intValue
        firstFailure = headers[FailureHeader.firstFailure]?.stringValue.flatMap(EventCoding.parseTimestamp) ?? oldest?["time"]?.dateValue
        originalExchange = headers[FailureHeader.originalExchange]?.stringValue ?? oldest?["exchange"]?.stringValue
        originalRoutingKey = headers[FailureHeader.originalRoutingKey]?.stringValue
            ?? oldest?["routing-keys"]?.arrayValue?.first?.stringValue
        replays = headers[FailureHeader.replays]?.intValue ?? 0
    }

    /// The reason and the error in one phrase, for people.
    public var summary: String {
        let reason = reason?.rawValue ?? "unknown"
        return error.map { "\(reason): \($0)" } ?? reason
    }
}
