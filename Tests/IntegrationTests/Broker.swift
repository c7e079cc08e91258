import AMQPClient
import Foundation
import Testing

/// The real RabbitMQ that `make test` starts (or the one RABBITMQ_URL names).
enum Broker {
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

    /// rabbitmqctl against the broker scripts/infra.sh started.
    static func rabbitmqctl(_ arguments: String...) throws {
        let script = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../scripts/infra.sh").standardized
        let process = Process()
        process.executableURL = URL(filePath: "/bin/bash")
        process.arguments = [script.path, "ctl"] + arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw AMQPError.library("rabbitmqctl \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
    }
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `body` and fails with `TimedOut` if it has not finished within `limit`.
func within<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what) }
        return value
    }
}

/// Waits until `condition` holds, checking every 100 ms, for at most `limit`.
func eventually(_ limit: Duration, _ what: String, _ condition: @escaping @Sendable () async throws -> Bool) async throws {
    try await within(limit, what) {
        while try await !condition() {
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
