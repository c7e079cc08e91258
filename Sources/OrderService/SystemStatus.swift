import AMQPClient
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrderEvents
import ServiceRuntime

/// What the order board shows of the system: each queue's depth and consumers, and the
/// order-api's outbox backlog (`GET /system`).
struct SystemStatus: Sendable {
    struct Queue: Encodable, Sendable {
        let name: String
        /// `work`, `dead_letter` or `retry`.
        let kind: String
        let ready: Int?
        /// Nil when the management API cannot be reached (AMQP does not tell).
        let unacked: Int?
        let consumers: Int?
    }

    struct Snapshot: Encodable, Sendable {
        let queues: [Queue]
        let outboxBacklog: Int?
        let at: Date

        enum CodingKeys: String, CodingKey {
            case queues, outboxBacklog = "outbox_backlog", at
        }
    }

    let store: OrderStore
    let broker: ReconnectingConnection
    let topology: Topology
    /// The RabbitMQ management API (`RABBITMQ_MANAGEMENT_URL`, by default port 15672 of the
    /// broker's host), which alone knows the unacknowledged counts.
    let management: URL

    func snapshot() async -> Snapshot {
        let names = topology.queues.map(\.name)
        var counts = (try? await managementCounts()) ?? [:]
        if counts.isEmpty { counts = await amqpCounts(names) }
        let queues = names.map { name in
            let kind = Queues.work.contains(name) ? "work" : Queues.workQueue(ofDeadLetterQueue: name) != nil ? "dead_letter" : "retry"
            let count = counts[name]
            return Queue(name: name, kind: kind, ready: count?.ready, unacked: count?.unacked, consumers: count?.consumers)
        }
        return Snapshot(queues: queues, outboxBacklog: try? await store.outboxBacklog(), at: Date())
    }

    private typealias Counts = [String: (ready: Int?, unacked: Int?, consumers: Int?)]

    private struct ManagementUnavailable: Error {
        let status: Int
    }

    private struct ManagementQueue: Decodable {
        let name: String
        let messagesReady: Int?
        let messagesUnacknowledged: Int?
        let consumers: Int?

        enum CodingKeys: String, CodingKey {
            case name, messagesReady = "messages_ready", messagesUnacknowledged = "messages_unacknowledged", consumers
        }
    }

    /// Every queue of the virtual host in one call to the management API.
    private func managementCounts() async throws -> Counts {
        let configuration = broker.node
        let vhost = configuration.virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? configuration.virtualHost
        var request = HTTPClientRequest(url: management.appending(path: "api/queues").absoluteString + "/\(vhost)?columns=name,messages_ready,messages_unacknowledged,consumers")
        let credentials = Data("\(configuration.user):\(configuration.password)".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic \(credentials)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(2))
        guard response.status == .ok else { throw ManagementUnavailable(status: Int(response.status.code)) }
        let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
        let queues = try JSONDecoder().decode([ManagementQueue].self, from: Data(body.readableBytesView))
        return Dictionary(queues.map { ($0.name, ($0.messagesReady, $0.messagesUnacknowledged, $0.consumers)) }) { first, _ in first }
    }

    /// Ready messages and consumers from passive declares, when the management API is not there.
    private func amqpCounts(_ names: [String]) async -> Counts {
        guard let connection = try? await withTimeout(.seconds(2), { try await broker.connection() }) else { return [:] }
        var counts: Counts = [:]
        for name in names {
            guard let state = try? await connection.inspectQueue(name) else { continue }
            counts[name] = (Int(state.messageCount), nil, Int(state.consumerCount))
        }
        return counts
    }
}
