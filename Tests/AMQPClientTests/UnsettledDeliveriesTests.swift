@testable import AMQPClient
import Testing

@Suite("Acks written together: one multiple ack for the oldest deliveries")
struct UnsettledDeliveriesTests {
    private func delivered(_ tags: ClosedRange<UInt64>) -> UnsettledDeliveries {
        var deliveries = UnsettledDeliveries()
        for tag in tags { deliveries.delivered(tag) }
        return deliveries
    }

    @Test("acks of the oldest deliveries leave as one multiple ack, whatever order they were asked in")
    func oldestTogether() {
        var deliveries = delivered(1...5)
        for tag: UInt64 in [3, 1, 2] { deliveries.ack(tag) }
        #expect(deliveries.takeAcks() == [.init(tag: 3, multiple: true)])
        deliveries.ack(4)
        #expect(deliveries.takeAcks() == [.init(tag: 4, multiple: false)])
    }

    @Test("an ack behind an unsettled delivery leaves alone, so the multiple ack never covers it")
    func gapKeepsSingleAcks() {
        var deliveries = delivered(1...5)
        for tag: UInt64 in [2, 3, 5] { deliveries.ack(tag) }
        #expect(deliveries.takeAcks() == [.init(tag: 2, multiple: false), .init(tag: 3, multiple: false), .init(tag: 5, multiple: false)])
        deliveries.ack(1)
        #expect(deliveries.takeAcks() == [.init(tag: 1, multiple: false)])
        deliveries.ack(4)
        #expect(deliveries.takeAcks() == [.init(tag: 4, multiple: false)])
    }

    @Test("a delivery nacked or rejected no longer holds the acks behind it back")
    func settledOtherwise() {
        var deliveries = delivered(1...4)
        deliveries.settledOtherwise(1)
        for tag: UInt64 in [2, 3] { deliveries.ack(tag) }
        #expect(deliveries.takeAcks() == [.init(tag: 3, multiple: true)])
    }

    @Test("an ack for a delivery it never saw is written as asked")
    func unknownTag() {
        var deliveries = delivered(1...2)
        deliveries.ack(9)
        #expect(deliveries.takeAcks() == [.init(tag: 9, multiple: false)])
        #expect(!deliveries.hasAcksToWrite)
        #expect(deliveries.takeAcks().isEmpty)
    }
}
