import AMQPClient
import Foundation
import ServiceRuntime
import TestSupport
import Testing

/// The real RabbitMQ that `make test` starts (or the one RABBITMQ_URL names).
enum Broker {
    /// A service's settings in the test virtual host and database, with the queue arguments
    /// the end-to-end tests declare there, and `more` besides.
    static func serviceEnvironment(_ more: [String: String] = [:]) -> EnvironmentVariables {
        EnvironmentVariables([
            "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/test",
            "DATABASE_URL": "postgres://orders:orders@127.0.0.1:5432/orders_test",
            "RETRY_DELAYS": "1s,2s",
            "DELIVERY_LIMIT": "3",
        ].merging(more) { $1 })
    }

    static let url = ProcessInfo.processInfo.environment["RABBITMQ_URL"] ?? "amqp://guest:guest@127.0.0.1:5672/%2f"

    static func configuration(_ name: String = "integration-tests") throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: url, connectionName: name)
        configuration.heartbeat = 5
        return configuration
    }

    /// Connects, or fails the test with one line that says how to start the broker.
    static func connect(_ name: String = "integration-tests") async throws -> AMQPConnection {
        do {
            return try await AMQPConnection.connect(configuration(name))
        } catch AMQPError.connectionFailed(let reason) {
            Issue.record("RabbitMQ is not reachable at \(url) (\(reason)); start it with `make test` or `scripts/infra.sh start rabbitmq`")
            throw AMQPError.connectionFailed(reason)
        }
    }

    /// A fresh queue name; the broker deletes the queue a minute after it is last used.
    static func declareTemporaryQueue(on connection: AMQPConnection, type: String = "quorum", arguments: AMQPTable = [:]) async throws -> String {
        let name = "test-\(UUID().uuidString.prefix(8).lowercased())"
        try await connection.declareQueue(name, arguments: arguments.merging(["x-queue-type": .string(type), "x-expires": .int64(60_000)]) { $1 })
        return name
    }

    /// What starts the broker and runs rabbitmqctl against it.
    private static let infraScript = packageRoot.appending(path: "scripts/infra.sh")

    /// The operating system's process id of the broker scripts/infra.sh started.
    static func processID() async throws -> pid_t {
        let outcome = try await runCommand(infraScript.path, ["ctl", "eval", "os:getpid()."])
        // rabbitmqctl prints the Erlang string, quotes included: "12345"
        return try #require(pid_t(outcome.output.trimmingCharacters(in: .whitespacesAndNewlines.union(["\""]))), "the broker's pid, from: \(outcome.output)")
    }

    /// rabbitmqctl against the broker scripts/infra.sh started.
    static func rabbitmqctl(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(filePath: "/bin/bash")
        process.arguments = [infraScript.path, "ctl"] + arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw AMQPError.library("rabbitmqctl \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
    }
}

