// amqp-bench: publish-with-confirm and consume-with-ack rates of AMQPClient against the
// broker at RABBITMQ_URL, on a fresh queue that is deleted afterwards. bench/raw holds the
// same workload in plain C, for the broker's own limit.
//
//   swift run -c release amqp-bench [messages] [in-flight] [quorum|classic]
import AMQPClient
import Foundation

let arguments = CommandLine.arguments.dropFirst()
let messageCount = arguments.first.flatMap(Int.init) ?? 100_000
let inFlight = arguments.dropFirst().first.flatMap(Int.init) ?? 200
let queueType = arguments.dropFirst(2).first ?? "quorum"
let url = ProcessInfo.processInfo.environment["RABBITMQ_URL"] ?? "amqp://guest:guest@127.0.0.1:5672/%2f"

/// `inFlight` publishers share one channel, so that many confirms are outstanding at once.
func publishAll(_ messageCount: Int, inFlight: Int, on connection: AMQPConnection, to queue: String) async throws -> Duration {
    let body = Data(repeating: UInt8(ascii: "x"), count: 200)
    let properties = AMQPProperties(contentType: "application/octet-stream", deliveryMode: .persistent)
    return try await ContinuousClock().measure {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for publisher in 0..<inFlight {
                let share = messageCount / inFlight + (publisher < messageCount % inFlight ? 1 : 0)
                group.addTask {
                    for _ in 0..<share {
                        try await connection.publish(body, exchange: "", routingKey: queue, properties: properties)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// One consumer with prefetch `inFlight`; every delivery acknowledged.
func consumeAll(_ messageCount: Int, prefetch: Int, on connection: AMQPConnection, from queue: String) async throws -> Duration {
    let consumer = try await connection.consume(queue: queue, prefetch: UInt16(prefetch))
    var consumed = 0
    let elapsed = try await ContinuousClock().measure {
        for try await delivery in consumer {
            try delivery.ack()
            consumed += 1
            if consumed == messageCount { break }
        }
    }
    await consumer.close()
    return elapsed
}

func rate(_ messageCount: Int, _ elapsed: Duration) -> Int {
    Int(Double(messageCount) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
}

let connection = try await AMQPConnection.connect(AMQPConfiguration(url: url, connectionName: "amqp-bench"))
let queue = "amqp-bench-\(UUID().uuidString.prefix(8))"
try await connection.declareQueue(queue, arguments: ["x-queue-type": .string(queueType)])
let publishTime = try await publishAll(messageCount, inFlight: inFlight, on: connection, to: queue)
let consumeTime = try await consumeAll(messageCount, prefetch: inFlight, on: connection, from: queue)
try await connection.deleteQueue(queue)
await connection.close()

print("""
amqp-bench: \(messageCount) persistent 200-byte messages, \(inFlight) in flight, \(queueType) queue
publish with confirms: \(rate(messageCount, publishTime)) msg/s
consume with acks:     \(rate(messageCount, consumeTime)) msg/s
""")
