import AMQPClient
import Foundation
import OrderEvents
import Testing

@Suite("Failure headers: written by a consumer, read from a dead letter, cleared by a replay")
struct FailureHeadersTests {
    /// What the broker writes when it dead-letters a message: the latest death first.
    let brokerExpired: AMQPTable = [
        "x-death": .array([
            .table(["queue": "order-events", "reason": "expired", "exchange": "orders", "routing-keys": .array(["order.placed"]), "count": .int64(1), "time": .timestamp(1_795_455_800)]),
        ]),
    ]

    @Test("a broker dead-letter: reason, original destination and time from x-death")
    func broker() {
        let letter = FailureHeaders(brokerExpired).deadLetter
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
        headers[FailureHeaders.reason] = "retries_exhausted"
        headers[FailureHeaders.error] = "database unavailable"
        headers[FailureHeaders.failedBy] = "inventory-worker"
        headers[FailureHeaders.attempts] = .int64(5)
        headers[FailureHeaders.firstFailure] = "2026-11-23T18:00:00.000Z"
        headers[FailureHeaders.originalExchange] = "orders"
        headers[FailureHeaders.originalRoutingKey] = "order.placed"
        headers[FailureHeaders.replays] = .int64(2)
        let letter = FailureHeaders(headers).deadLetter
        #expect(letter.reason == .retriesExhausted)
        #expect(letter.error == "database unavailable" && letter.failedBy == "inventory-worker" && letter.attempts == 5)
        #expect(letter.firstFailure == EventCoding.parseTimestamp("2026-11-23T18:00:00.000Z"))
        #expect(letter.originalExchange == "orders" && letter.originalRoutingKey == "order.placed")
        #expect(letter.replays == 2)
        #expect(letter.summary == "retries_exhausted: database unavailable")
    }

    @Test("a message that crashed its consumer: the broker's delivery_limit")
    func deliveryLimit() {
        let letter = FailureHeaders(["x-death": .array([.table(["reason": "delivery_limit", "exchange": "orders", "routing-keys": .array(["order.placed"])])])]).deadLetter
        #expect(letter.reason == .deliveryLimit)
    }

    @Test("without any failure header nothing is made up")
    func bare() {
        let letter = FailureHeaders([:]).deadLetter
        #expect(letter.reason == nil && letter.originalExchange == nil && letter.firstFailure == nil)
        #expect(letter.summary == "unknown")
    }

    @Test("two failures written by consumers: attempts counted, the first failure and the original destination kept, the reason set when dead-lettered")
    func written() {
        let first = Date(timeIntervalSince1970: 1_795_455_800)
        var headers = FailureHeaders(["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "x-delivery-count": .int64(3)])
        #expect(headers.failedAttempts == 0)
        headers.recordFailure("timed out", by: "inventory-worker", deliveredFrom: "orders", routingKey: "order.placed", deadLetteredAs: nil, at: first)
        #expect(headers.failedAttempts == 1 && headers.table["x-delivery-count"] == nil)
        headers.recordFailure("database unavailable", by: "inventory-worker", deliveredFrom: "retry", routingKey: "order-events", deadLetteredAs: .retriesExhausted, at: first.addingTimeInterval(60))
        let letter = headers.deadLetter
        #expect(letter.reason == .retriesExhausted && letter.error == "database unavailable" && letter.failedBy == "inventory-worker")
        #expect(letter.attempts == 2 && letter.firstFailure == first && letter.replays == 0)
        #expect(letter.originalExchange == "orders" && letter.originalRoutingKey == "order.placed")
        #expect(headers.table["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    }

    @Test("a replay clears the journey, keeps every other header, and counts itself")
    func replayed() {
        var headers = FailureHeaders(brokerExpired)
        headers.recordFailure("poison", by: "order-api", deliveredFrom: "inventory", routingKey: "inventory.reserved", deadLetteredAs: .poison)
        headers.startReplay()
        headers.startReplay()
        var expected = FailureHeaders(["traceparent": "kept"])
        expected.startReplay()
        expected.startReplay()
        #expect(headers.failedAttempts == 0 && headers.deadLetter.reason == nil && headers.deadLetter.replays == 2)
        #expect(Set(headers.table.keys) == [FailureHeaders.replays])
        #expect(Set(expected.table.keys) == ["traceparent", FailureHeaders.replays])
    }
}
