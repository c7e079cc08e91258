public import AMQPClient
public import Foundation

/// The headers that tell a message's failures, besides the broker's own `x-death`: the one
/// place that writes them (a consumer sending a message to a retry or dead-letter queue),
/// reads them (the consumer's attempt count, the order projection and `dlq-inspector` reading
/// a dead letter) and clears them (a replay).
public struct FailureHeaders: Sendable {
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
    static let journey = [
        error, failedBy, attempts, firstFailure, reason, originalExchange, originalRoutingKey,
        "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
        "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-delivery-count",
    ]

    /// All the message's headers, the failure headers among them.
    public private(set) var table: AMQPTable

    public init(_ table: AMQPTable) {
        self.table = table
    }

    // MARK: Reading

    /// How many times the message was handled and failed so far (0 for a first delivery).
    public var failedAttempts: Int { table[Self.attempts]?.intValue ?? 0 }

    /// What the headers say about a dead letter. A consumer's own headers win over the
    /// `x-death` of the retry queues the message went through.
    public var deadLetter: DeadLetter {
        // The broker keeps one x-death entry per queue and reason, the latest first.
        let deaths = table["x-death"]?.arrayValue?.compactMap(\.tableValue) ?? []
        let latest = deaths.first
        let oldest = deaths.last
        return DeadLetter(
            reason: (table[Self.reason]?.stringValue ?? latest?["reason"]?.stringValue).flatMap(DeadLetterReason.init(rawValue:)),
            error: table[Self.error]?.stringValue,
            failedBy: table[Self.failedBy]?.stringValue,
            attempts: table[Self.attempts]?.intValue,
            firstFailure: table[Self.firstFailure]?.stringValue.flatMap(EventCoding.parseTimestamp) ?? oldest?["time"]?.dateValue,
            originalExchange: table[Self.originalExchange]?.stringValue ?? oldest?["exchange"]?.stringValue,
            originalRoutingKey: table[Self.originalRoutingKey]?.stringValue ?? oldest?["routing-keys"]?.arrayValue?.first?.stringValue,
            replays: table[Self.replays]?.intValue ?? 0
        )
    }

    // MARK: Writing

    /// Records one more failed attempt of a message delivered from `exchange` with
    /// `routingKey`, and `deadLetteredAs` when it goes to a dead-letter queue. The first
    /// failure and the original destination are kept from the first time.
    public mutating func recordFailure(
        _ error: String, by service: String, deliveredFrom exchange: String, routingKey: String,
        deadLetteredAs reason: DeadLetterReason?, at now: Date = Date()
    ) {
        table[Self.error] = .string(error)
        table[Self.failedBy] = .string(service)
        table[Self.attempts] = .int64(Int64(failedAttempts + 1))
        if table[Self.firstFailure] == nil {
            table[Self.firstFailure] = .string(EventCoding.formatTimestamp(now))
        }
        if table[Self.originalExchange] == nil {
            table[Self.originalExchange] = .string(exchange)
            table[Self.originalRoutingKey] = .string(routingKey)
        }
        table[Self.reason] = reason.map { .string($0.rawValue) }
        table["x-delivery-count"] = nil  // the broker's count on the queue it came from, not the copy's
    }

    // MARK: Clearing

    /// Starts a new journey for a replay: the failures and deaths of the last one are cleared,
    /// and the replays counted.
    public mutating func startReplay() {
        let replays = deadLetter.replays
        for name in Self.journey { table[name] = nil }
        table[Self.replays] = .int64(Int64(replays + 1))
    }
}
