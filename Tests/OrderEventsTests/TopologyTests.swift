import AMQPClient
import OrderEvents
import Testing

@Suite("Topology as CONTRACT §4 names it")
struct TopologyTests {
    let topology = Topology()

    func queue(_ name: String) -> Topology.Queue? { topology.queues.first { $0.name == name } }

    @Test("the exchanges")
    func exchanges() {
        #expect(Set(topology.exchanges) == ["orders", "inventory", "notifications", "dlx", "retry"])
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
            .filter { !$0.hasPrefix("retry/") }
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

    @Test("a dead-letter queue has no delivery limit and no TTL: none on RabbitMQ 3, and 4's default of 20 turned off with -1", arguments: ["order-events-dlq", "inventory-events-dlq", "order-status-dlq"])
    func deadLetterQueuesKeepEverything(name: String) throws {
        let deadLetterQueue = try #require(queue(name))
        for major in [nil, 3] {
            let arguments = topology.arguments(of: deadLetterQueue, onBrokerMajorVersion: major)
            #expect(arguments["x-delivery-limit"] == nil && arguments["x-message-ttl"] == nil && arguments["x-expires"] == nil)
        }
        let onFour = topology.arguments(of: deadLetterQueue, onBrokerMajorVersion: 4)
        #expect(onFour["x-delivery-limit"]?.intValue == -1)
        #expect(onFour["x-message-ttl"] == nil && onFour["x-expires"] == nil)
        // A work queue keeps the limit it is given, on any version.
        let work = try #require(queue("order-events"))
        #expect(topology.arguments(of: work, onBrokerMajorVersion: 4) == work.arguments)
        // A classic dead-letter queue has no delivery limit to turn off.
        let classic = try #require(Topology(queueType: .classic).queues.first { $0.name == name })
        #expect(Topology(queueType: .classic).arguments(of: classic, onBrokerMajorVersion: 4)["x-delivery-limit"] == nil)
    }

    @Test("classic queues carry only what classic queues support")
    func classicArguments() throws {
        let arguments = try #require(Topology(queueType: .classic).queues.first { $0.name == "order-events" }).arguments
        #expect(arguments["x-queue-type"] == "classic")
        #expect(arguments["x-delivery-limit"] == nil)
        #expect(arguments["x-dead-letter-strategy"] == nil)
    }

    @Test("each work queue has one retry queue per delay, which sends messages back to it alone after its TTL")
    func retryQueues() throws {
        let topology = Topology(retryDelays: [.milliseconds(500), .seconds(5), .seconds(30)])
        for work in ["order-events", "inventory-events", "order-status"] {
            #expect(topology.bindings.contains { $0.queue == work && $0.exchange == "retry" && $0.routingKey == work })
            for (name, ttl) in [("\(work)-retry-500ms", 500), ("\(work)-retry-5s", 5000), ("\(work)-retry-30s", 30_000)] {
                let arguments = try #require(queue(name, in: topology)).arguments
                #expect(arguments["x-message-ttl"]?.intValue == ttl)
                #expect(arguments["x-dead-letter-exchange"] == "retry")
                #expect(arguments["x-dead-letter-routing-key"] == .string(work))
                #expect(arguments["x-delivery-limit"] == nil)
                #expect(topology.bindings.contains { $0.queue == name && $0.exchange == "retry" && $0.routingKey == name })
            }
        }
    }

    @Test("the n-th failed attempt waits in the n-th retry queue; the last delay repeats")
    func retryQueueForAttempt() {
        let topology = Topology(retryDelays: [.seconds(1), .seconds(5), .seconds(30)])
        let queues = (1...5).map { topology.retryQueue(of: "order-events", afterAttempt: $0) }
        #expect(queues == ["order-events-retry-1s", "order-events-retry-5s", "order-events-retry-30s", "order-events-retry-30s", "order-events-retry-30s"])
    }

    @Test("a queue the broker has with other arguments names the argument, the setting and the way to migrate")
    func mismatch() {
        let mismatch = TopologyMismatch(
            queue: "order-events",
            brokerReply: "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'order-events' in vhost '/': received the value 'classic' of type 'longstr' but current is the value 'quorum' of type 'longstr'"
        )
        #expect(mismatch.argument == "x-queue-type")
        #expect(mismatch.description.contains("its x-queue-type differs"))
        #expect(mismatch.description.contains("set RABBITMQ_QUEUE_TYPE to match"))
        #expect(mismatch.description.contains("rabbitmqctl delete_queue order-events"))
        #expect(TopologyMismatch(queue: "q", brokerReply: "PRECONDITION_FAILED - something else").argument == nil)
        // A dead-letter queue's delivery limit is no setting's: only migrating helps.
        let deadLetterQueue = TopologyMismatch(
            queue: "order-events-dlq",
            brokerReply: "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'order-events-dlq' in vhost '/': received the value '-1' of type 'signedint' but current is none"
        )
        #expect(deadLetterQueue.argument == "x-delivery-limit")
        #expect(!deadLetterQueue.description.contains("DELIVERY_LIMIT"))
        #expect(deadLetterQueue.description.contains("rabbitmqctl delete_queue order-events-dlq"))
    }

    private func queue(_ name: String, in topology: Topology) -> Topology.Queue? { topology.queues.first { $0.name == name } }
}
