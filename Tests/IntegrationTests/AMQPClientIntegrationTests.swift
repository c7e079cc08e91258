import AMQPClient
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

/// Against the real broker. Serialized, because one test closes every connection the broker has.
@Suite("AMQPClient against RabbitMQ", .serialized)
struct AMQPClientIntegrationTests {
    @Test("a message keeps its body, properties and headers of every kind from publish to consume")
    func roundTrip() async throws {
        let connection = try await Broker.connect()
        let queue = try await Broker.declareTemporaryQueue(on: connection)
        // RabbitMQ has no unsigned 64-bit field kind ('L'), so that one is left out here.
        let headers: AMQPTable = [
            "bool": .bool(true), "int8": .int8(-8), "uint8": .uint8(200), "int16": .int16(-1600),
            "uint16": .uint16(65000), "int32": .int32(-320_000), "uint32": .uint32(4_000_000_000),
            "int64": .int64(-64_000_000_000), "float": .float(1.5), "double": .double(-2.25),
            "decimal": .decimal(scale: 2, value: 12345), "string": .string("héllo"), "bytes": .bytes([0, 255]),
            "timestamp": .timestamp(1_795_000_000), "void": .void,
            "array": .array([.string("a"), .int32(1), .table(["nested": .bool(false)])]),
            "table": .table(["inner": .table(["deeper": .string("x")])]),
        ]
        let properties = AMQPProperties(
            contentType: "application/json", contentEncoding: "utf-8", headers: headers, deliveryMode: .persistent,
            priority: 3, correlationID: "corr", replyTo: "reply", expiration: "600000", messageID: "m-1",
            timestamp: Date(timeIntervalSince1970: 1_795_000_000), type: "Test", appID: "integration-tests"
        )
        let body = Data(#"{"hello":"world"}"#.utf8)
        try await connection.publish(body, exchange: "", routingKey: queue, properties: properties)

        let consumer = try await connection.consume(queue: queue, prefetch: 10)
        let delivery = try await within(.seconds(10), "the delivery") { try await consumer.first { _ in true } }
        let received = try #require(delivery)
        #expect(received.body == body)
        #expect(received.properties == properties)
        #expect(received.routingKey == queue)
        #expect(received.redelivered == false)
        try received.ack()
        await connection.close()
    }

    @Test("10,000 persistent messages pipelined with confirms are all consumed exactly once")
    func tenThousandPipelined() async throws {
        let connection = try await Broker.connect()
        let queue = try await Broker.declareTemporaryQueue(on: connection)
        let total = 10_000, publishers = 100
        let body = Data(repeating: 0x2A, count: 200)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for publisher in 0..<publishers {
                group.addTask {
                    for index in stride(from: publisher, to: total, by: publishers) {
                        try await connection.publish(body, exchange: "", routingKey: queue, properties: AMQPProperties(deliveryMode: .persistent, messageID: "\(index)"))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await connection.inspectQueue(queue).messageCount == UInt32(total))

        let consumer = try await connection.consume(queue: queue, prefetch: 200)
        let seen = try await within(.seconds(60), "\(total) deliveries") {
            var ids: [String] = []
            for try await delivery in consumer {
                ids.append(delivery.properties.messageID ?? "")
                #expect(!delivery.redelivered)
                try delivery.ack()
                if ids.count == total { break }
            }
            return ids
        }
        #expect(seen.count == total)
        #expect(Set(seen) == Set((0..<total).map(String.init)))
        try await eventually(.seconds(10), "the queue to be empty") { try await connection.inspectQueue(queue).messageCount == 0 }
        await connection.close()
    }

    @Test("a rejected message reaches the dead-letter queue with an x-death header")
    func rejectedIsDeadLettered() async throws {
        let connection = try await Broker.connect()
        let deadLetterExchange = "test-dlx-\(UUID().uuidString.prefix(8).lowercased())"
        try await connection.declareExchange(deadLetterExchange, type: .topic, autoDelete: true)
        let deadLetters = try await Broker.declareTemporaryQueue(on: connection)
        try await connection.bindQueue(deadLetters, exchange: deadLetterExchange, routingKey: "#")
        let queue = try await Broker.declareTemporaryQueue(on: connection, arguments: ["x-dead-letter-exchange": .string(deadLetterExchange)])

        try await connection.publish(Data("poison".utf8), exchange: "", routingKey: queue, properties: AMQPProperties(messageID: "p-1"))
        let consumer = try await connection.consume(queue: queue, prefetch: 1)
        let delivery = try #require(try await within(.seconds(10), "the delivery") { try await consumer.first { _ in true } })
        try delivery.reject(requeue: false)

        let deadLetter = try await within(.seconds(10), "the dead letter") {
            while true {
                if let message = try await connection.get(queue: deadLetters) { return message }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(deadLetter.body == Data("poison".utf8))
        #expect(deadLetter.properties.messageID == "p-1")
        let death = try #require(deadLetter.headers["x-death"]?.arrayValue?.first?.tableValue)
        #expect(death["reason"]?.stringValue == "rejected")
        #expect(death["queue"]?.stringValue == queue)
        #expect(death["count"]?.intValue == 1)
        try deadLetter.ack()
        #expect(try await connection.get(queue: deadLetters) == nil)
        await connection.close()
    }

    @Test("acks leave before a later command on the connection: taken with basic.get, acked, then one more get and a close, all are gone")
    func acksBeforeLaterCommands() async throws {
        let connection = try await Broker.connect()
        let queue = try await Broker.declareTemporaryQueue(on: connection)
        for index in 0..<200 {
            try await connection.publish(Data("\(index)".utf8), exchange: "", routingKey: queue, properties: AMQPProperties(deliveryMode: .persistent))
        }
        var taken: [AMQPDelivery] = []
        while let delivery = try await connection.get(queue: queue) { taken.append(delivery) }
        #expect(taken.count == 200)
        for delivery in taken { try delivery.ack() }
        // The get is written after the acks, so the quorum queue has applied them when it
        // answers, and the close right after it requeues nothing.
        #expect(try await connection.get(queue: queue) == nil)
        await connection.close()
        let again = try await Broker.connect()
        #expect(try await again.inspectQueue(queue).messageCount == 0)
        await again.close()
    }

    @Test("a mandatory message that reaches no queue is thrown as unroutable; a non-mandatory one is confirmed")
    func unroutable() async throws {
        let connection = try await Broker.connect()
        let routingKey = "nobody-listens-\(UUID().uuidString)"
        await #expect(throws: AMQPError.unroutable(code: 312, reason: "NO_ROUTE")) {
            try await connection.publish(Data("x".utf8), exchange: "amq.topic", routingKey: routingKey, mandatory: true)
        }
        try await connection.publish(Data("x".utf8), exchange: "amq.topic", routingKey: routingKey, mandatory: false)
        await connection.close()
    }

    @Test("a message the broker refuses is thrown as nacked")
    func nacked() async throws {
        let connection = try await Broker.connect()
        let queue = try await Broker.declareTemporaryQueue(on: connection, type: "classic", arguments: ["x-max-length": .int64(1), "x-overflow": "reject-publish"])
        try await connection.publish(Data("first".utf8), exchange: "", routingKey: queue)
        await #expect(throws: AMQPError.publishNacked) {
            try await connection.publish(Data("second".utf8), exchange: "", routingKey: queue)
        }
        await connection.close()
    }

    @Test("a publish the broker holds back (memory alarm) can be abandoned with a timeout", .timeLimit(.minutes(1)))
    func heldPublishIsCancellable() async throws {
        let connection = try await Broker.connect()
        let queue = try await Broker.declareTemporaryQueue(on: connection)
        try Broker.rabbitmqctl("set_vm_memory_high_watermark", "0")
        defer { try? Broker.rabbitmqctl("set_vm_memory_high_watermark", "0.4") }
        await #expect(throws: TimedOut.self) {
            try await within(.seconds(2), "a publish during a memory alarm") {
                try await connection.publish(Data("held".utf8), exchange: "", routingKey: queue)
            }
        }
    }

    @Test("a broker that falls silent is noticed after the heartbeat interval agreed with it, not the longer one the client proposed", .timeLimit(.minutes(1)))
    func negotiatedHeartbeat() async throws {
        // The broker offers 1 s to the connection made here (its default is 60 s); the client
        // proposes 600 s, so the two agree on 1 s.
        try Broker.rabbitmqctl("eval", "application:set_env(rabbit, heartbeat, 1).")
        var configuration = try Broker.configuration("heartbeat-test")
        configuration.heartbeat = 600
        let connection: AMQPConnection
        do {
            defer { try? Broker.rabbitmqctl("eval", "application:set_env(rabbit, heartbeat, 60).") }
            connection = try await AMQPConnection.connect(configuration)
        }
        // The broker stops without closing anything: the socket stays open and nothing comes.
        let broker = try await Broker.processID()
        kill(broker, SIGSTOP)
        defer { kill(broker, SIGCONT) }
        try await eventually(.seconds(10), "the client to give up on the silent broker (two agreed intervals, 2 s)") { !connection.isOpen }
    }

    @Test("a channel error is typed with its reply code, and the connection keeps working")
    func channelError() async throws {
        let connection = try await Broker.connect()
        let queue = try await Broker.declareTemporaryQueue(on: connection, type: "classic")
        await #expect {
            try await connection.declareQueue(queue, arguments: ["x-queue-type": "quorum", "x-expires": .int64(60_000)])
        } throws: { error in
            guard case .channelClosed(let code, let reason, _) = error as? AMQPError else { return false }
            return code == 406 && reason.contains("PRECONDITION_FAILED")
        }
        await #expect {
            try await connection.inspectQueue("no-such-queue-\(UUID().uuidString)")
        } throws: { error in
            guard case .channelClosed(404, _, _) = error as? AMQPError else { return false }
            return true
        }
        #expect(connection.isOpen)
        try await connection.publish(Data("still works".utf8), exchange: "", routingKey: queue)
        #expect(try await connection.inspectQueue(queue).messageCount == 1)
        #expect(try await connection.purgeQueue(queue) == 1)
        await connection.close()
    }

    @Test("after cancel every delivery already sent is still yielded and can be acked; then the sequence ends")
    func cancelDrains() async throws {
        let connection = try await Broker.connect()
        let queue = try await Broker.declareTemporaryQueue(on: connection)
        for index in 0..<50 {
            try await connection.publish(Data("\(index)".utf8), exchange: "", routingKey: queue)
        }
        let consumer = try await connection.consume(queue: queue, prefetch: 20)
        let drained = try await within(.seconds(10), "the consumer to drain") {
            var count = 0
            for try await delivery in consumer {
                if count == 0 { consumer.cancel() }
                try delivery.ack()
                count += 1
            }
            return count
        }
        #expect(drained >= 1 && drained <= 20, "at most the prefetch was in flight")
        await consumer.close()
        try await eventually(.seconds(10), "the rest to stay in the queue") {
            try await connection.inspectQueue(queue).messageCount == UInt32(50 - drained)
        }
        await connection.close()
    }

    @Test("deleting a queue cancels its consumer with a typed error")
    func consumerCancelledByBroker() async throws {
        let connection = try await Broker.connect()
        let queue = try await Broker.declareTemporaryQueue(on: connection)
        let consumer = try await connection.consume(queue: queue, prefetch: 1)
        try await connection.deleteQueue(queue)
        await #expect(throws: AMQPError.consumerCancelled(queue: queue)) {
            try await within(.seconds(10), "the cancellation") { for try await _ in consumer {} }
        }
        await connection.close()
    }

    @Test("after the broker closes every connection, publishing and consuming resume and nothing is lost")
    func recoversFromClosedConnections() async throws {
        try await Broker.connect().close()  // fails with the clear line if there is no broker
        let queue = "test-recovery-\(UUID().uuidString.prefix(8).lowercased())"
        let reconnecting = ReconnectingConnection(
            nodes: [try Broker.configuration("recovery-test")],
            backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(500)),
            logger: Logger(label: "recovery-test")
        ) { connection in
            try await connection.declareQueue(queue, arguments: ["x-queue-type": "quorum", "x-expires": .int64(60_000)])
        }
        let total = 300
        let received = ReceivedIDs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await reconnecting.run() }
            group.addTask {
                // Consumes again on each new connection, as the services' consumers do.
                while !Task.isCancelled {
                    do {
                        for try await delivery in try await reconnecting.connection().consume(queue: queue, prefetch: 20) {
                            received.insert(delivery.properties.messageID ?? "")
                            try? delivery.ack()
                        }
                    } catch let error as AMQPError where error.isConnectionLoss {}
                }
            }
            for index in 0..<total {
                if index == total / 2 {
                    try Broker.rabbitmqctl("close_all_connections", "integration test: recovery")
                }
                // Publishes again on the next connection what the lost one did not confirm.
                while true {
                    do {
                        try await reconnecting.connection().publish(Data("m".utf8), exchange: "", routingKey: queue, properties: AMQPProperties(deliveryMode: .persistent, messageID: "\(index)"))
                        break
                    } catch let error as AMQPError where error.isConnectionLoss {}
                }
            }
            try await eventually(.seconds(60), "every message to be consumed") {
                received.all.count == total
            }
            group.cancelAll()
        }
        #expect(received.all == Set((0..<total).map(String.init)))
        #expect(reconnecting.connectionCount >= 2)
    }
}

extension AMQPClientIntegrationTests {
    @Test("a reconnecting connection goes on to the next node while one does not answer, and so does a one-shot connect")
    func nextNode() async throws {
        try await Broker.connect().close()
        var dead = try Broker.configuration("next-node-test")
        dead.port = 1  // nothing listens there
        let live = try Broker.configuration("next-node-test")
        let reconnecting = ReconnectingConnection(nodes: [dead, live], logger: Logger(label: "next-node-test"))
        let running = Task { try await reconnecting.run() }
        defer { running.cancel() }
        try await eventually(.seconds(10), "a connection to the live node") { reconnecting.isConnected }
        #expect(reconnecting.node.port == live.port)
        // Both nodes fail in turn before the first wait: the live one was reached without one.
        try await AMQPConnection.connect(toFirstOf: [dead, live]).close()
        await #expect(throws: AMQPError.self) { try await AMQPConnection.connect(toFirstOf: [dead]) }
    }

    @Test("once a reconnecting connection stops, whoever waits for a connection is told so, and so is the next caller")
    func waitersFailOnStop() async throws {
        try await Broker.connect().close()
        var dead = try Broker.configuration("stop-test")
        dead.port = 1  // nothing listens there: callers wait
        let reconnecting = ReconnectingConnection(nodes: [dead], logger: Logger(label: "stop-test"))
        let running = Task { try await reconnecting.run() }
        let waiting = Task { try await reconnecting.connection() }
        running.cancel()  // whether the waiter came before the stop or after, it is told
        await #expect(throws: AMQPError.self) { try await within(.seconds(10), "the waiter to be told") { try await waiting.value } }
        _ = try await within(.seconds(10), "run() to return") { try? await running.value }
        #expect(reconnecting.isStopped)
        await #expect(throws: AMQPError.self) { try await reconnecting.connection() }
    }
}

/// Message ids seen by a consumer task, read by the test.
final class ReceivedIDs: Sendable {
    private let ids = Mutex(Set<String>())

    func insert(_ id: String) { ids.withLock { _ = $0.insert(id) } }

    var all: Set<String> { ids.withLock { $0 } }
}
