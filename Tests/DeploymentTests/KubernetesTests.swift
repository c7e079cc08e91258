import AMQPClient
import Foundation
import OrderEvents
import ServiceRuntime
import TestSupport
import Testing

/// Every overlay under deploy/k8s/overlays, rendered by `kubectl kustomize` as CI and users
/// do: it parses, and it names what the code expects.
@Suite("deploy/k8s")
struct KubernetesTests {
    static let overlays: [String] = {
        let directory = packageRoot.appending(path: "deploy/k8s/overlays")
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }()

    /// The rendered objects of one overlay, by kind and name.
    struct Rendered {
        let objects: [Manifest]

        func one(_ kind: String, _ name: String) throws -> Manifest {
            try #require(objects.first { $0["kind"].string == kind && $0["metadata"]["name"].string == name }, "no \(kind) \(name)")
        }

        func all(_ kind: String) -> [Manifest] { objects.filter { $0["kind"].string == kind } }

        /// A ConfigMap or Secret, by the name it has before kustomize appends its content hash.
        func generated(_ kind: String, _ name: String) throws -> Manifest {
            try #require(objects.first { $0["kind"].string == kind && $0["metadata"]["name"].string?.hasPrefix("\(name)-") == true }, "no \(kind) \(name)")
        }
    }

    static func render(_ overlay: String) async throws -> Rendered {
        let text = try await output(of: "kubectl", "kustomize", packageRoot.appending(path: "deploy/k8s/overlays/\(overlay)").path)
        return Rendered(objects: try Manifest.yaml(text).filter(\.exists))
    }

    @Test("there are overlays, among them local")
    func overlaysExist() {
        #expect(Self.overlays.contains("local"))
        #expect(Self.overlays.count >= 2)
    }

    @Test("each service's Deployment runs its executable on its port, probed on /health and /ready, with settings it accepts", arguments: overlays)
    func deployments(_ overlay: String) async throws {
        let rendered = try await Self.render(overlay)
        let configuration = try rendered.generated("ConfigMap", "order-pipeline-config")["data"].environment
        let broker = try #require(rendered.all("RabbitmqCluster").first)["metadata"]["name"].string
        let database = try #require(rendered.all("Cluster").first)["metadata"]["name"].string
        for identity in deployedServices {
            let deployment = try rendered.one("Deployment", identity.name)
            let container = deployment["spec"]["template"]["spec"]["containers"][0]
            #expect(container["command"].array.compactMap(\.string) == [identity.name])
            #expect(container["ports"][0]["name"].string == "http")
            #expect(container["ports"][0]["containerPort"].int == identity.defaultPort)
            #expect(container["livenessProbe"]["httpGet"]["path"].string == "/health")
            #expect(container["readinessProbe"]["httpGet"]["path"].string == "/ready")
            #expect(container["livenessProbe"]["httpGet"]["port"].string == "http")
            #expect(container["resources"]["requests"]["memory"].exists && container["resources"]["limits"]["memory"].exists)

            // Secrets come from the operators: RabbitMQ's default user and CloudNativePG's app user.
            let references = Dictionary(container["env"].array.compactMap { entry in
                entry["valueFrom"]["secretKeyRef"]["name"].string.map { (entry["name"].string ?? "", $0) }
            }) { $1 }
            #expect(references["RABBITMQ_USER"] == "\(broker ?? "")-default-user")
            #expect(references["DATABASE_URL"] == "\(database ?? "")-app")

            var environment = configuration.merging(container["env"].environment) { $1 }
            environment["DATABASE_URL"] = "postgresql://orders:secret@\(database ?? "")-rw:5432/orders"
            #expect(Set(environment.keys).isSubset(of: knownVariables), "unknown variables: \(Set(environment.keys).subtracting(knownVariables))")
            let settings = try ServiceSettings(service: identity, environment: EnvironmentVariables(environment))
            #expect(settings.httpPort == identity.defaultPort)
            #expect(settings.bindAddress == "0.0.0.0")
            #expect(settings.broker.nodes[0].host == broker, "RABBITMQ_HOST is the operator's Service, named after the cluster")

            let budget = try rendered.one("PodDisruptionBudget", identity.name)
            #expect(budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"].string
                == deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"].string)
        }
    }

    @Test("KEDA scales inventory-worker on the depth of order-events", arguments: overlays)
    func autoscaling(_ overlay: String) async throws {
        let rendered = try await Self.render(overlay)
        let scaler = try rendered.one("ScaledObject", "inventory-worker")
        #expect(scaler["spec"]["scaleTargetRef"]["name"].string == "inventory-worker")
        let trigger = scaler["spec"]["triggers"][0]
        #expect(trigger["type"].string == "rabbitmq")
        #expect(trigger["metadata"]["queueName"].string == Queues.orderEvents)
        let authentication = try rendered.one("TriggerAuthentication", try #require(trigger["authenticationRef"]["name"].string))
        #expect(authentication["spec"]["secretTargetRef"][0]["parameter"].string == "host")
    }

    @Test("production runs three RabbitMQ nodes and three PostgreSQL instances, each commit on a replica too, and two order-api replicas")
    func production() async throws {
        let rendered = try await Self.render("production")
        #expect(try #require(rendered.all("RabbitmqCluster").first)["spec"]["replicas"].int == 3)
        let database = try #require(rendered.all("Cluster").first)["spec"]
        #expect(database["instances"].int == 3)
        #expect(database["minSyncReplicas"].int == 1, "a failover must not lose a commit answered 202")
        #expect(try rendered.one("Deployment", "order-api")["spec"]["replicas"].int ?? 0 >= 2)
        let configuration = try rendered.generated("ConfigMap", "order-pipeline-config")["data"].environment
        #expect(configuration["RABBITMQ_QUEUE_TYPE"] == Topology.QueueType.quorum.rawValue)
    }
}
