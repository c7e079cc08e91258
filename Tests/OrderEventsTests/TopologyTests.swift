import AMQPClient
import OrderEvents
import Testing

@Suite("Topology as CONTRACT §4 names it")
struct TopologyTests {
    let topology = Topology()

    func queue(_ name: String) -> Topology.Queue? { topology.queues.first { $0.name == name } }

    @Test("the exchanges")
    func exchanges() {
        #expect(Set(topology.exchanges) == ["orders", "inventory", "notifications", "dlx"])
    }

    @Test("events route to the exchange and key of the contract")
    func routes() {
        #expect(EventType.orderPlaced.exchange == "orders" && EventType.orderPlaced.routingKey == "order.placed")
        #expect(EventType.inventoryReserved.exchange == "inventory" && EventType.inventoryReserved.routingKey == "inventory.reserved")
        #expect(EventType.inventoryFailed.exchange == "inventory" && EventType.inventoryFailed.routingKey == "inventory.failed")
        #expect(EventType.notificationSent.exchange == "notifications" && EventType.notificationSent.routingKey == "notification.sent")
    }

    @Test("the bindings")
    func bindings() {
        let bindings = Set(topology.bindings.map { "\($0.exchange)/\($0.routingKey) -> \($0.queue)" })
        #expect(bindings == [
            "orders/order.placed -> order-events",
            "inventory/inventory.* -> inventory-events",
            "inventory/inventory.* -> order-status",
            "notifications/notification.* -> order-status",
            "dlx/order-events-dlq -> order-status",
            "dlx/order-events-dlq -> order-events-dlq",
            "dlx/inventory-events-dlq -> inventory-events-dlq",
            "dlx/order-status-dlq -> order-status-dlq",
        ])
    }

    @Test("each work queue dead-letters to its DLQ through dlx", arguments: ["order-events", "inventory-events", "order-status"])
    func deadLetterWiring(name: String) throws {
        let arguments = try #require(queue(name)).arguments
        #expect(arguments["x-dead-letter-exchange"] == "dlx")
        #expect(arguments["x-dead-letter-routing-key"] == .string("\(name)-dlq"))
        #expect(queue("\(name)-dlq") != nil)
    }

    @Test("quorum queues carry an explicit delivery limit and at-least-once dead-lettering")
    func quorumArguments() throws {
        let arguments = try #require(Topology(queueType: .quorum, deliveryLimit: 7).queues.first { $0.name == "order-events" }).arguments
        #expect(arguments["x-queue-type"] == "quorum")
        #expect(arguments["x-delivery-limit"]?.intValue == 7)
        #expect(arguments["x-dead-letter-strategy"] == "at-least-once")
        #expect(arguments["x-overflow"] == "reject-publish")
    }

    @Test("classic queues carry only what classic queues support")
    func classicArguments() throws {
        let arguments = try #require(Topology(queueType: .classic).queues.first { $0.name == "order-events" }).arguments
        #expect(arguments["x-queue-type"] == "classic")
        #expect(arguments["x-delivery-limit"] == nil)
        #expect(arguments["x-dead-letter-strategy"] == nil)
    }
}
