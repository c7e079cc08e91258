public import AMQPClient
import Foundation
public import OrderEvents

/// How a service reaches RabbitMQ and which topology it declares (CONTRACT §6).
public struct BrokerSettings: Sendable {
    public static let defaultURL = "amqp://guest:guest@127.0.0.1:5672/%2f"

    /// The nodes to connect to, in the order `RABBITMQ_URL` names them: one for a single broker,
    /// each node of a cluster for a cluster.
    public let nodes: [AMQPConfiguration]
    public let topology: Topology
    /// How many times (`MAX_ATTEMPTS`, 5) a transiently failing message is handled before it
    /// is dead-lettered; the waits between attempts are the topology's retry delays.
    public let maxAttempts: Int

    /// `RABBITMQ_URL`, one AMQP URL or a comma-separated list of them (the nodes of a
    /// cluster), with `RABBITMQ_HOST`, `RABBITMQ_PORT`, `RABBITMQ_USER`, `RABBITMQ_PASSWORD`
    /// and `RABBITMQ_VHOST` overriding those parts of each; `RABBITMQ_QUEUE_TYPE`,
    /// `DELIVERY_LIMIT` and `RETRY_DELAYS` shape the queues.
    public init(environment: EnvironmentVariables, service: String) throws(ConfigurationError) {
        let urls = environment.string("RABBITMQ_URL", default: Self.defaultURL).split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !urls.isEmpty, !urls.contains(where: \.isEmpty) else {
            throw ConfigurationError(variable: "RABBITMQ_URL", problem: "is not amqp://user:password@host:port/vhost, or a comma-separated list of such URLs")
        }
        var nodes: [AMQPConfiguration] = []
        for url in urls {
            var node: AMQPConfiguration
            do {
                node = try AMQPConfiguration(url: url, connectionName: service)
            } catch {
                throw ConfigurationError(variable: "RABBITMQ_URL", problem: "'\(url)' is not amqp://user:password@host:port/vhost")
            }
            if let host = environment.string("RABBITMQ_HOST") { node.host = host }
            node.port = try environment.integer("RABBITMQ_PORT", default: node.port, in: 1...65535)
            if let user = environment.string("RABBITMQ_USER") { node.user = user }
            if let password = environment.string("RABBITMQ_PASSWORD") { node.password = password }
            if let vhost = environment.string("RABBITMQ_VHOST") { node.virtualHost = vhost }
            nodes.append(node)
        }
        self.nodes = nodes
        topology = Topology(
            queueType: try environment.choice("RABBITMQ_QUEUE_TYPE", default: .quorum),
            deliveryLimit: try environment.integer("DELIVERY_LIMIT", default: 10, in: 1...1000),
            retryDelays: try environment.durations("RETRY_DELAYS", default: [.seconds(1), .seconds(5), .seconds(30)])
        )
        maxAttempts = try environment.integer("MAX_ATTEMPTS", default: 5, in: 1...100)
    }
}
