import AMQPClient
import Foundation
import OrderEvents
import Testing

@Suite("Reading a dead letter's headers")
struct DeadLetterTests {
    /// What the broker writes when it dead-letters a message: the latest death first.
    let brokerExpired: AMQPTable = [
        "x-death": .array([
            .table(["queue": "order-events", "reason": "expired", "exchange": "orders", "routing-keys": .array(["order.placed"]), "count": .int64(1), "time": .timestamp(1_795_455_800)]),
        ]),
    ]

    @Test("a broker dead-letter: reason, original destination and time from x-death")
    func broker() {
        let letter = DeadLetter(headers: brokerExpired)
        #expect(letter.reason == .expired)
        #expect(letter.originalExchange == "orders" && letter.originalRoutingKey == "order.placed")
        #expect(letter.firstFailure == Date(timeIntervalSince1970: 1_795_455_800))
        #expect(letter.attempts == nil && letter.error == nil && letter.replays == 0)
        #expect(letter.summary == "expired")
    }

    @Test("a consumer's dead-letter: its own headers win over the x-death of the retry queues it went through")
    func consumer() {
        var headers = brokerExpired
        headers["x-death"] = .array([
            .table(["queue": "order-events-retry-5s", "reason": "expired", "exchange": "retry", "routing-keys": .array(["order-events-retry-5s"]), "time": .timestamp(1_795_455_900)]),
            .table(["queue": "order-events-retry-1s", "reason": "expired", "exchange": "retry", "routing-keys": .array(["order-events-retry-1s"]), "time": .timestamp(1_795_455_800)]),
        ])
        headers[FailureHeader.reason] = "retries_exhausted"
        headers[FailureHeader.error] = "database unavailable"
        headers[FailureHeader.failedBy] = "inventory-worker"
        headers[FailureHeader.attempts] = .int64(5)
        headers[FailureHeader.firstFailure] = "2026-11-23T18:00:00.000Z"
        headers[FailureHeader.originalExchange] = "orders"
        headers[FailureHeader.originalRoutingKey] = "order.placed"
        headers[FailureHeader.replays] = .int64(2)
        let letter = DeadLetter(headers: headers)
        #expect(letter.reason == .retriesExhausted)
        #expect(letter.error == "database unavailable" && letter.failedBy == "inventory-worker" && letter.attempts == 5)
        #expect(letter.firstFailure == EventCoding.parseTimestamp("2026-11-23T18:00:00.000Z"))
        #expect(letter.originalExchange == "orders" && letter.originalRoutingKey == "order.placed")
        #expect(letter.replays == 2)
        #expect(letter.summary == "retries_exhausted: database unavailable")
    }

    @Test("a message that crashed its consumer: the broker's delivery_limit")
    func deliveryLimit() {
        let letter = DeadLetter(headers: ["x-death": .array([.table(["reason": "delivery_limit", "exchange": "orders", "routing-keys": .array(["order.placed"])])])])
        #expect(letter.reason == .deliveryLimit)
    }

    @Test("without any failure header nothing is made up")
    func bare() {
        let letter = DeadLetter(headers: [:])
        #expect(letter.reason == nil && letter.originalExchange == nil && letter.firstFailure == nil)
        #expect(letter.summary == "unknown")
    }
}
