public import AMQPClient

/// Exchange names (CONTRACT §4).
public enum Exchanges {
    public static let orders = "orders"
    public static let inventory = "inventory"
    public static let notifications = "notifications"
    /// The dead-letter exchange.
    public static let deadLetter = "dlx"
    /// Where retries wait and come back from: each delay queue is bound by its own name, and
    /// each work queue by its own name, so a retry returns only to the queue that failed it.
    public static let retry = "retry"
}

/// Queue names (CONTRACT §4).
public enum Queues {
    public static let orderEvents = "order-events"
    public static let inventoryEvents = "inventory-events"
    public static let orderStatus = "order-status"
    /// The queues services consume, each with its own dead-letter queue.
    public static let work = [orderEvents, inventoryEvents, orderStatus]

    /// The dead-letter queue of a work queue, which is also its routing key on `dlx`.
    public static func deadLetter(of queue: String) -> String { "\(queue)-dlq" }

    /// The work queue whose dead-letter queue this is, or nil for any other name.
    public static func workQueue(ofDeadLetterQueue name: String) -> String? {
        work.first { deadLetter(of: $0) == name }
    }

    /// The queue where a retry of `queue` waits `delay` before the broker moves it back.
    public static func retry(of queue: String, delay: Duration) -> String {
        let milliseconds = delay.wholeMilliseconds
        let label = milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
        return "\(queue)-retry-\(label)"
    }
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

    /// The delays of the retry tiers, shortest first; the last one repeats.
    public let retryDelays: [Duration]

    /// - Parameters:
    ///   - queueType: quorum (the default, as RabbitMQ recommends) or classic.
    ///   - deliveryLimit: for quorum queues, how often a message may be delivered before the
    ///     broker dead-letters it, so a message that crashes its consumer cannot loop forever.
    ///   - retryDelays: one delay queue per work queue and delay, where a failed message waits
    ///     (in the broker, so no crash loses it) until its TTL sends it back to the work queue.
    public init(queueType: QueueType = .quorum, deliveryLimit: Int = 10, retryDelays: [Duration] = [.seconds(1), .seconds(5), .seconds(30)]) {
        precondition(!retryDelays.isEmpty, "at least one retry delay")
        self.retryDelays = retryDelays
        exchanges = [Exchanges.orders, Exchanges.inventory, Exchanges.notifications, Exchanges.deadLetter, Exchanges.retry]

        var durable: AMQPTable = ["x-queue-type": .string(queueType.rawValue)]
        if queueType == .quorum {
            // Dead-letter at least once: the message leaves the queue only once the target has it.
            durable["x-dead-letter-strategy"] = "at-least-once"
            durable["x-overflow"] = "reject-publish"
        }
        var work: [Queue] = []
        var deadLetter: [Queue] = []
        var retry: [Queue] = []
        var bindings: [Binding] = [
            Binding(queue: Queues.orderEvents, exchange: Exchanges.orders, routingKey: EventType.orderPlaced.routingKey),
            Binding(queue: Queues.inventoryEvents, exchange: Exchanges.inventory, routingKey: "inventory.*"),
            Binding(queue: Queues.orderStatus, exchange: Exchanges.inventory, routingKey: "inventory.*"),
            Binding(queue: Queues.orderStatus, exchange: Exchanges.notifications, routingKey: "notification.*"),
            // So the API learns which orders were dead-lettered.
            Binding(queue: Queues.orderStatus, exchange: Exchanges.deadLetter, routingKey: Queues.deadLetter(of: Queues.orderEvents)),
        ]
        for queue in Queues.work {
            var arguments = durable
            arguments["x-dead-letter-exchange"] = .string(Exchanges.deadLetter)
            arguments["x-dead-letter-routing-key"] = .string(Queues.deadLetter(of: queue))
            if queueType == .quorum { arguments["x-delivery-limit"] = .int64(Int64(deliveryLimit)) }
            work.append(Queue(name: queue, arguments: arguments))
            bindings.append(Binding(queue: queue, exchange: Exchanges.retry, routingKey: queue))

            deadLetter.append(Queue(name: Queues.deadLetter(of: queue), arguments: ["x-queue-type": .string(queueType.rawValue)]))
            bindings.append(Binding(queue: Queues.deadLetter(of: queue), exchange: Exchanges.deadLetter, routingKey: Queues.deadLetter(of: queue)))

            for delay in Set(retryDelays) {
                let name = Queues.retry(of: queue, delay: delay)
                var arguments = durable
                arguments["x-message-ttl"] = .int64(delay.wholeMilliseconds)
                arguments["x-dead-letter-exchange"] = .string(Exchanges.retry)
                arguments["x-dead-letter-routing-key"] = .string(queue)
                retry.append(Queue(name: name, arguments: arguments))
                bindings.append(Binding(queue: name, exchange: Exchanges.retry, routingKey: name))
            }
        }
        queues = work + deadLetter + retry.sorted { $0.name < $1.name }
        self.bindings = bindings
    }

    /// The delay queue for a message of `queue` whose attempt number `attempt` (from 1) failed.
    public func retryQueue(of queue: String, afterAttempt attempt: Int) -> String {
        Queues.retry(of: queue, delay: retryDelays[min(max(attempt, 1), retryDelays.count) - 1])
    }

    /// The arguments `queue` is declared with on a broker of this major version. RabbitMQ 4
    /// gives every quorum queue a delivery limit of 20 unless told otherwise, and counts each
    /// message a reader hands back, so a dead-letter queue would drop what `dlq-inspector`
    /// looked at twenty times: there its limit is turned off with -1. RabbitMQ 3 has no
    /// default limit and would read -1 as "drop at once", so there it gets none.
    public func arguments(of queue: Queue, onBrokerMajorVersion major: Int?) -> AMQPTable {
        var arguments = queue.arguments
        if Queues.workQueue(ofDeadLetterQueue: queue.name) != nil, arguments["x-queue-type"] == .string(QueueType.quorum.rawValue), (major ?? 3) >= 4 {
            arguments["x-delivery-limit"] = .int64(-1)
        }
        return arguments
    }

    public func declare(on connection: AMQPConnection) async throws {
        for exchange in exchanges {
            try await connection.declareExchange(exchange, type: .topic)
        }
        for queue in queues {
            do {
                try await connection.declareQueue(queue.name, arguments: arguments(of: queue, onBrokerMajorVersion: connection.brokerMajorVersion))
            } catch AMQPError.channelClosed(code: 406, let reason, _) {
                throw TopologyMismatch(queue: queue.name, brokerReply: reason)
            }
        }
        for binding in bindings {
            try await connection.bindQueue(binding.queue, exchange: binding.exchange, routingKey: binding.routingKey)
        }
    }
}

/// A queue exists on the broker with other arguments than this topology declares (RabbitMQ's
/// 406 PRECONDITION_FAILED). Declaring again cannot help, so services stop with this message.
public struct TopologyMismatch: Error, Sendable, Hashable, CustomStringConvertible {
    public let queue: String
    /// The argument that differs, when the broker's reply names it.
    public let argument: String?
    /// The broker's reply text, for example "PRECONDITION_FAILED - inequivalent arg
    /// 'x-queue-type' for queue 'order-events' in vhost '/': received the value 'classic' of
    /// type 'longstr' but current is the value 'quorum' of type 'longstr'".
    public let brokerReply: String

    public init(queue: String, brokerReply: String) {
        self.queue = queue
        self.brokerReply = brokerReply
        argument = brokerReply.firstRange(of: "inequivalent arg '").flatMap { start in
            brokerReply[start.upperBound...].split(separator: "'", maxSplits: 1).first.map(String.init)
        }
    }

    public var description: String {
        let difference = argument.map { "its \($0) differs from what this service declares" } ?? "it was declared with other arguments"
        // No setting shapes a dead-letter queue's delivery limit: it differs only when an
        // earlier version declared the queue (on RabbitMQ 4), and migrating is the way.
        let shapedBySetting = !(argument == "x-delivery-limit" && Queues.workQueue(ofDeadLetterQueue: queue) != nil)
        let setting = argument.flatMap { shapedBySetting ? Self.settings[$0] : nil }.map { "set \($0) to match the existing queue, or " } ?? ""
        return "queue '\(queue)' already exists and \(difference) (broker: \(brokerReply)). To go on, \(setting)migrate it: "
            + "stop every service, let its consumers drain it or move its messages elsewhere, delete it "
            + "(rabbitmqctl delete_queue \(queue)), and start the services again so they declare it anew."
    }

    /// The setting that shapes each queue argument.
    private static let settings = [
        "x-queue-type": "RABBITMQ_QUEUE_TYPE", "x-dead-letter-strategy": "RABBITMQ_QUEUE_TYPE", "x-overflow": "RABBITMQ_QUEUE_TYPE",
        "x-delivery-limit": "DELIVERY_LIMIT", "x-message-ttl": "RETRY_DELAYS",
    ]
}
