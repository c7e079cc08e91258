import AMQPClient
import AsyncHTTPClient
import Foundation
import Logging
import OrderEvents
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceRuntime
import TestSupport
import Testing

/// The system under test: the real executables from `.build/debug`, against the real broker
/// and database that `make test` starts, in their own virtual host (`test`) and database
/// (`orders_test`) and on ports apart from `make up`'s, so a running system is not touched.
actor Pipeline {
    enum Service: String {
        case orderAPI = "order-api"
        case inventory = "inventory-worker"
        case notification = "notification-worker"
    }

    static let shared = Pipeline()
    static let root = packageRoot
    static let orderAPI = "http://127.0.0.1:18101"
    static let rabbitURL = "amqp://guest:guest@127.0.0.1:5672/test"
    static let databaseURL = "postgres://orders:orders@127.0.0.1:5432/orders_test"
    static let stockPerItem = 1_000_000
    /// Every service of the test virtual host declares its queues with this delivery limit
    /// (as the integration tests do), so a crash loop ends after a few deliveries.
    static let deliveryLimit = "3"
    /// Retry delays for tests that go through the retry queues quickly.
    static let fastRetryDelays = "200ms,400ms"

    /// `fastRetryDelays`, read as the services read `RETRY_DELAYS`.
    static func fastRetries() throws -> [Duration] {
        try EnvironmentVariables(["RETRY_DELAYS": fastRetryDelays]).durations("RETRY_DELAYS", default: [])
    }

    static func port(_ service: Service, replica: Int) -> Int {
        switch service {
        case .orderAPI: 18101
        case .inventory: 19102 + 10 * (replica - 1)
        case .notification: 19103
        }
    }

    private struct Running {
        let process: Process
        let settings: [String: String]
    }

    private var running: [String: Running] = [:]
    private var isClean = false
    /// `RABBITMQ_URL` of the services: one broker, or the nodes of a cluster.
    let brokerURL: String
    /// The port of each order-api replica.
    let apiPorts: [Int]

    init(brokerURL: String = Pipeline.rabbitURL, apiPorts: [Int] = [Pipeline.port(.orderAPI, replica: 1)]) {
        self.brokerURL = brokerURL
        self.apiPorts = apiPorts
    }

    /// Where replica `replica` of `service` answers in this pipeline.
    func port(_ service: Service, replica: Int) -> Int {
        service == .orderAPI ? apiPorts[replica - 1] : Self.port(service, replica: replica)
    }

    /// Makes sure every order-api replica, inventory replicas 1...`inventoryReplicas` and the
    /// notification-worker run, with these extra settings. Other inventory replicas are
    /// stopped. The first call starts from empty schemas and queues.
    func run(
        inventoryReplicas: Int = 1, apiSettings: [String: String] = [:], inventorySettings: [String: String] = [:],
        notificationSettings: [String: String] = [:]
    ) async throws {
        if !isClean {
            try await reset()
            isClean = true
        }
        for replica in apiPorts.indices.map({ $0 + 1 }) { try await ensure(.orderAPI, replica: replica, settings: apiSettings) }
        for replica in 1...max(inventoryReplicas, 1) where inventoryReplicas > 0 {
            try await ensure(.inventory, replica: replica, settings: inventorySettings)
        }
        for name in running.keys where name.hasPrefix(Service.inventory.rawValue) {
            if let replica = Int(name.split(separator: "-").last ?? ""), replica > inventoryReplicas {
                _ = await stop(.inventory, replica: replica)
            }
        }
        try await ensure(.notification, replica: 1, settings: notificationSettings)
    }

    private func ensure(_ service: Service, replica: Int, settings: [String: String] = [:]) async throws {
        let name = "\(service.rawValue)-\(replica)"
        if let current = running[name], current.process.isRunning, current.settings == settings { return }
        if running[name] != nil { _ = await stop(service, replica: replica) }
        try await start(service, replica: replica, settings: settings)
    }

    func start(_ service: Service, replica: Int = 1, settings: [String: String] = [:]) async throws {
        let name = "\(service.rawValue)-\(replica)"
        let logs = Self.root.appending(path: ".run/test-logs")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let logFile = logs.appending(path: "\(name).log")
        if !FileManager.default.fileExists(atPath: logFile.path) { _ = FileManager.default.createFile(atPath: logFile.path, contents: nil) }
        let output = try FileHandle(forWritingTo: logFile)
        output.seekToEndOfFile()

        var environment = ProcessInfo.processInfo.environment
        environment["RABBITMQ_URL"] = brokerURL
        environment["DATABASE_URL"] = Self.databaseURL
        environment["REPLICA"] = "\(replica)"
        environment["LOG_FORMAT"] = "json"
        environment[service == .orderAPI ? "PORT" : "ADMIN_PORT"] = "\(port(service, replica: replica))"
        environment["DELIVERY_LIMIT"] = Self.deliveryLimit
        environment["INVENTORY_INITIAL_STOCK"] = ["Burger", "Pizza", "Salad", "Taco", "Sushi"].map { "\($0)=\(Self.stockPerItem)" }.joined(separator: ",")
        environment.merge(settings) { $1 }

        let process = Process()
        process.executableURL = Self.root.appending(path: ".build/debug/\(service.rawValue)")
        process.environment = environment
        process.standardOutput = output
        process.standardError = output
        try process.run()
        running[name] = Running(process: process, settings: settings)
        let health = "http://127.0.0.1:\(port(service, replica: replica))/health"
        try await eventually(.seconds(60), "\(name) to answer /health (log: .run/test-logs/\(name).log)") {
            guard process.isRunning else { throw ServiceExited(name: name, status: process.terminationStatus) }
            // A short timeout: a process killed while it answers leaves the request hanging.
            return (try? await HTTP.get(health, timeout: .seconds(2)).status) == 200
        }
    }

    /// Sends `signal` and waits for the process to exit; returns its exit status, or nil if
    /// it was not running.
    @discardableResult
    func stop(_ service: Service, replica: Int = 1, signal: Int32 = SIGTERM) async -> Int32? {
        guard let entry = running.removeValue(forKey: "\(service.rawValue)-\(replica)") else { return nil }
        let process = entry.process
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, signal)
        try? await eventually(.seconds(40), "\(service.rawValue)-\(replica) to exit") { !process.isRunning }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            try? await eventually(.seconds(5), "a killed process to exit") { !process.isRunning }
        }
        return process.terminationStatus
    }

    /// Sends `signal` (SIGSTOP, SIGCONT) to a running service, which stays in the pipeline.
    func signal(_ service: Service, replica: Int = 1, _ signal: Int32) {
        guard let entry = running["\(service.rawValue)-\(replica)"], entry.process.isRunning else { return }
        kill(entry.process.processIdentifier, signal)
    }

    /// The services started and not stopped by the test that have exited since.
    func exited() -> [String] {
        running.filter { !$0.value.process.isRunning }.map(\.key).sorted()
    }

    func stopAll() async {
        for name in running.keys {
            let parts = name.split(separator: "-")
            guard let replica = Int(parts.last ?? ""), let service = Service(rawValue: parts.dropLast().joined(separator: "-")) else { continue }
            await stop(service, replica: replica)
        }
    }

    /// Empty schemas and queues, so every run starts from the same state.
    private func reset() async throws {
        await stopAll()
        try await Self.withDatabase { client in
            for schema in ["order_api", "inventory", "notification"] {
                try await client.query(PostgresQuery(unsafeSQL: "drop schema if exists \(schema) cascade"))
            }
        }
        let nodes = try brokerURL.split(separator: ",").map { try AMQPConfiguration(url: String($0), connectionName: "e2e-reset") }
        let connection = try await AMQPConnection.connect(toFirstOf: nodes)
        for queue in Set((Topology().queues + Topology(retryDelays: try Self.fastRetries()).queues).map(\.name)) {
            try await connection.deleteQueue(queue)
        }
        await connection.close()
    }

    /// Runs `body` with a client of the test database.
    static func withDatabase<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        var configuration = PostgresClient.Configuration(host: "127.0.0.1", port: 5432, username: "orders", password: "orders", database: "orders_test", tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// Runs one of the package's executables (or the program at an absolute path) to its end,
    /// at most `limit`, against the test broker and database, with `settings` added to its
    /// environment.
    static func execute(_ executable: String, _ arguments: [String] = [], settings: [String: String] = [:], limit: Duration = .seconds(60)) async throws -> CommandOutcome {
        var environment = ProcessInfo.processInfo.environment
        environment["RABBITMQ_URL"] = rabbitURL
        environment["DATABASE_URL"] = databaseURL
        environment["DELIVERY_LIMIT"] = deliveryLimit
        environment.merge(settings) { $1 }
        let program = executable.hasPrefix("/") ? executable : root.appending(path: ".build/debug/\(executable)").path
        return try await runCommand(program, arguments, environment: environment, limit: limit)
    }

    /// The last warnings and errors each service logged, for a failure message.
    static func recentProblems(limit: Int = 5) -> String {
        let logs = root.appending(path: ".run/test-logs")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: logs.path))?.sorted() ?? []
        return files.compactMap { file -> String? in
            guard let text = try? String(contentsOf: logs.appending(path: file), encoding: .utf8) else { return nil }
            let problems = text.split(separator: "\n").filter {
                $0.contains(#""level":"warning""#) || $0.contains(#""level":"error""#) || $0.contains(#""level":"critical""#)
            }
            guard !problems.isEmpty else { return nil }
            return "\(file):\n" + problems.suffix(limit).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// Runs `scripts/infra.sh` with these arguments (stop and start the broker or database).
    static func infra(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(filePath: "/bin/bash")
        process.arguments = [root.appending(path: "scripts/infra.sh").path] + arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw InfraFailed(arguments: arguments) }
    }
}

struct ServiceExited: Error, CustomStringConvertible {
    let name: String
    let status: Int32
    var description: String { "\(name) exited with status \(status); see .run/test-logs/\(name).log" }
}

struct InfraFailed: Error {
    let arguments: [String]
}

/// Stops every process the suite started once the suite is done, whatever happened.
struct StopsPipelineAfterwards: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        do {
            try await function()
        } catch {
            await Pipeline.shared.stopAll()
            throw error
        }
        await Pipeline.shared.stopAll()
    }
}

extension Trait where Self == StopsPipelineAfterwards {
    static var stopsPipelineAfterwards: Self { Self() }
}
