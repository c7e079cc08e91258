import AMQPClient
import Foundation
import ServiceRuntime
import TestSupport
import Testing

/// docker-compose.yml as `docker-compose config` resolves it (no engine needed): the
/// contract's service names, workers that can scale, and settings that the services accept
/// and that agree with their defaults.
@Suite("docker-compose.yml")
struct ComposeTests {
    /// The compose service that runs each executable.
    static let composeNames = ["order-api": "order-api", "inventory-worker": "inventory", "notification-worker": "notification"]

    static func resolved() async throws -> Manifest {
        let text = try await output(of: "docker-compose", "--file", packageRoot.appending(path: "docker-compose.yml").path, "config")
        return try #require(try Manifest.yaml(text).first)
    }

    @Test("names the contract's services and the balancer; dlq-inspector is a tool; the services publish no port and set no container name")
    func services() async throws {
        let services = try await Self.resolved()["services"]
        #expect(services.keys == ["rabbitmq", "postgres", "order-api", "balancer", "inventory", "notification", "dlq-inspector"])
        #expect(services["dlq-inspector"]["profiles"].array.compactMap(\.string) == ["tools"])
        #expect(services["dlq-inspector"]["entrypoint"][0].string == "dlq-inspector")
        for worker in ["order-api", "inventory", "notification"] {
            #expect(!services[worker]["ports"].exists, "\(worker) publishes a host port, so it cannot scale")
            #expect(!services[worker]["container_name"].exists, "\(worker) has a container name, so it cannot scale")
        }
        #expect(services["rabbitmq"]["image"].string?.hasSuffix("-management") == true, "the management UI")
    }

    @Test("each service runs its executable with settings it accepts, on its default port, checked by its health check", arguments: deployedServices)
    func service(_ identity: ServiceIdentity) async throws {
        let services = try await Self.resolved()["services"]
        let service = services[try #require(Self.composeNames[identity.name])]
        #expect(service["command"][0].string == identity.name)

        let environment = service["environment"].environment
        #expect(Set(environment.keys).isSubset(of: knownVariables), "unknown variables: \(Set(environment.keys).subtracting(knownVariables))")
        let settings = try ServiceSettings(service: identity, environment: EnvironmentVariables(environment))
        #expect(settings.httpPort == identity.defaultPort)
        #expect(settings.bindAddress == "0.0.0.0", "inside a container the server must listen beyond loopback")
        #expect(settings.broker.nodes[0].host == "rabbitmq")
        #expect(settings.database.host == "postgres")

        let postgres = services["postgres"]["environment"].environment
        #expect(settings.database.user == postgres["POSTGRES_USER"])
        #expect(settings.database.password == postgres["POSTGRES_PASSWORD"])
        #expect(settings.database.database == postgres["POSTGRES_DB"])

        let healthCheck = service["healthcheck"]["test"].array.compactMap(\.string).joined(separator: " ")
        #expect(healthCheck.contains("http://127.0.0.1:\(identity.defaultPort)/health"))
        let dependencies = service["depends_on"]
        for dependency in ["rabbitmq", "postgres"] {
            #expect(dependencies[dependency]["condition"].string == "service_healthy")
        }
    }

    @Test("the balancer publishes the API's port on the host, before every order-api replica, checked on /ready")
    func balancer() async throws {
        let balancer = try await Self.resolved()["services"]["balancer"]
        let published = balancer["ports"].array.map { $0.string ?? "\($0["published"].string ?? ""):\($0["target"].string ?? "")" }
        #expect(published.contains("8101:8101"))
        #expect(balancer["depends_on"]["order-api"]["condition"].string == "service_healthy")
        let backend = try String(contentsOf: packageRoot.appending(path: "deploy/haproxy/backend-compose.cfg"), encoding: .utf8)
        #expect(backend.contains("server-template order-api- ") && backend.contains("order-api:8101 check"))
        #expect(backend.contains("option httpchk GET /ready"))
        // HAProxy itself accepts both files.
        let directory = FileManager.default.temporaryDirectory.appending(path: "balancer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var environment = ProcessInfo.processInfo.environment
        environment["BALANCER_BIND"] = ":8101"  // as in compose; -c binds nothing
        let checked = try await runCommand("haproxy", ["-c", "-f", packageRoot.appending(path: "deploy/haproxy/haproxy.cfg").path, "-f", packageRoot.appending(path: "deploy/haproxy/backend-compose.cfg").path], environment: environment)
        #expect(checked.status == 0, "haproxy -c: \(checked.output)\(checked.errors)")
    }
}
