public import AMQPClient

/// Exchange names (CONTRACT §4).
public enum Exchanges {
    public static let orders = "orders"
    public static let inventory = "inventory"
    public static let notifications = "notifications"
    /// The dead-letter exchange.
    public static let deadLetter = "dlx"
}

/// Queue names (CONTRACT §4).
public enum Queues {
    public static let orderEvents = "order-events"
    public static let inventoryEvents = "inventory-events"
    public static let orderStatus = "order-status"

    /// The dead-letter queue of a work queue, which is also its routing key on `dlx`.
    public static func deadLetter(of queue: String) -> String { "\(queue)-dlq" }
}

/// The broker topology of the system, written once, as data: every exchange, queue and
/// binding, with the dead-letter wiring. `declare(on:)` creates it; it is idempotent.
public struct Topology: Sendable, Hashable {
    public enum QueueType: String, Sendable, CaseIterable {
        case quorum, classic
    }

    public struct Queue: Sendable, Hashable {
        public let name: String
        public let arguments: AMQPTable
    }

    public struct Binding: Sendable, Hashable {
        public let queue: String
        public let exchange: String
        public let routingKey: String
    }

    public let exchanges: [String]
    public let queues: [Queue]
    public let bindings: [Binding]

    /// - Parameters:
    ///   - queueType: quorum (the default, as RabbitMQ recommends) or classic.
    ///   - deliveryLimit: for quorum queues, how often a message may be delivered before the
    ///     broker dead-letters it, so a message that crashes its consumer cannot loop forever.
    public init(queueType: QueueType = .quorum, deliveryLimit: Int = 10) {
        exchanges = [Exchanges.orders, Exchanges.inventory, Exchanges.notifications, Exchanges.deadLetter]

        let workQueues = [Queues.orderEvents, Queues.inventoryEvents, Queues.orderStatus]
        var workArguments: AMQPTable = ["x-queue-type": .string(queueType.rawValue), "x-dead-letter-exchange": .string(Exchanges.deadLetter)]
        if queueType == .quorum {
            workArguments["x-delivery-limit"] = .int64(Int64(deliveryLimit))
            // Dead-letter at least once: the message leaves the queue only once the DLQ has it.
            workArguments["x-dead-letter-strategy"] = "at-least-once"
            workArguments["x-overflow"] = "reject-publish"
        }
        queues = workQueues.map { queue in
            var arguments = workArguments
            arguments["x-dead-letter-routing-key"] = .string(Queues.deadLetter(of: queue))
            return Queue(name: queue, arguments: arguments)
        } + workQueues.map { queue in
            Queue(name: Queues.deadLetter(of: queue), arguments: ["x-queue-type": .string(queueType.rawValue)])
        }

        bindings = [
            Binding(queue: Queues.orderEvents, exchange: Exchanges.orders, routingKey: EventType.orderPlaced.routingKey),
            Binding(queue: Queues.inventoryEvents, exchange: Exchanges.inventory, routingKey: "inventory.*"),
            Binding(queue: Queues.orderStatus, exchange: Exchanges.inventory, routingKey: "inventory.*"),
            Binding(queue: Queues.orderStatus, exchange: Exchanges.notifications, routingKey: "notification.*"),
            // So the API learns which orders were dead-lettered.
            Binding(queue: Queues.orderStatus, exchange: Exchanges.deadLetter, routingKey: Queues.deadLetter(of: Queues.orderEvents)),
        ] + workQueues.map { queue in
            Binding(queue: Queues.deadLetter(of: queue), exchange: Exchanges.deadLetter, routingKey: Queues.deadLetter(of: queue))
        }
    }

    public func declare(on connection: AMQPConnection) async throws {
        for exchange in exchanges {
            try await connection.declareExchange(exchange, type: .topic)
        }
        for queue in queues {
            try await connection.declareQueue(queue.name, arguments: queue.arguments)
        }
        for binding in bindings {
            try await connection.bindQueue(binding.queue, exchange: binding.exchange, routingKey: binding.routingKey)
        }
    }
}
