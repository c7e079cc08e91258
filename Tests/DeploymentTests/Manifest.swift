import Foundation
import ServiceRuntime
import TestSupport
import Testing
import Yams

/// A parsed YAML or JSON value, read by key and index; a missing key reads as nil, so a test
/// can walk a manifest and fail on the value it expected.
struct Manifest: CustomStringConvertible {
    let value: Any?

    subscript(key: String) -> Manifest { Manifest(value: (value as? [String: Any])?[key]) }
    subscript(index: Int) -> Manifest {
        guard let array = value as? [Any], array.indices.contains(index) else { return Manifest(value: nil) }
        return Manifest(value: array[index])
    }

    var string: String? {
        switch value {
        case let text as String: text
        case let number as Int: String(number)
        case let flag as Bool: String(flag)
        default: nil
        }
    }
    var bool: Bool? { value as? Bool }
    var int: Int? { value as? Int ?? string.flatMap { Int($0) } }
    var array: [Manifest] { (value as? [Any] ?? []).map { Manifest(value: $0) } }
    var keys: Set<String> { Set((value as? [String: Any] ?? [:]).keys) }
    var exists: Bool { value != nil }
    var description: String { value.map { "\($0)" } ?? "nil" }

    /// `name=value` pairs, as in a container's `env` list or a compose `environment` map.
    var environment: [String: String] {
        if let map = value as? [String: Any] {
            return map.mapValues { Manifest(value: $0).string ?? "" }
        }
        return Dictionary(array.compactMap { entry in entry["name"].string.map { ($0, entry["value"].string ?? "") } }) { $1 }
    }

    static func yaml(_ text: String) throws -> [Manifest] {
        try Yams.load_all(yaml: text).map { Manifest(value: $0) }
    }

    static func json(_ url: URL) throws -> Manifest {
        Manifest(value: try JSONSerialization.jsonObject(with: Data(contentsOf: url)))
    }
}

/// Runs a command the deployment checks need, failing the test with what it printed unless it
/// exits 0.
func output(of program: String, _ arguments: String...) async throws -> String {
    let outcome = try await runCommand(program, arguments)
    try #require(outcome.status == 0, "\(program) \(arguments.joined(separator: " ")) exited \(outcome.status): \(outcome.errors)")
    return outcome.output
}

/// The three services the deployments run, with the executable each runs.
let deployedServices: [ServiceIdentity] = [.orderAPI, .inventoryWorker, .notificationWorker]

/// The variables the services read (CONTRACT §6 and the README's configuration table).
let knownVariables: Set<String> = [
    "RABBITMQ_URL", "RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_USER", "RABBITMQ_PASSWORD", "RABBITMQ_VHOST",
    "RABBITMQ_MANAGEMENT_URL", "DATABASE_URL", "PORT", "ADMIN_PORT", "BIND_ADDRESS", "LOG_LEVEL", "LOG_FORMAT",
    "PREFETCH", "CONCURRENCY", "RABBITMQ_QUEUE_TYPE", "DELIVERY_LIMIT", "RETRY_DELAYS", "MAX_ATTEMPTS", "ORDER_TTL",
    "INVENTORY_INITIAL_STOCK", "NOTIFY_WEBHOOK_URL", "RETENTION", "REPLICA",
]
