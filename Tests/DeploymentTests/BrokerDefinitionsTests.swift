import AMQPClient
import Foundation
import OrderEvents
import TestSupport
import Testing

/// deploy/rabbitmq/definitions.json provisions a broker ahead of the services. It must be
/// exactly the topology OrderEvents declares with the default settings, or the services'
/// own declarations would fail with 406 against it.
@Suite("deploy/rabbitmq/definitions.json")
struct BrokerDefinitionsTests {
    static let file = packageRoot.appending(path: "deploy/rabbitmq/definitions.json")
    static let topology = Topology()

    /// A queue argument as JSON holds it.
    static func json(_ value: AMQPFieldValue) -> String {
        value.intValue.map(String.init) ?? value.stringValue ?? "\(value)"
    }

    @Test("it holds the topology's exchanges, queues with their arguments, and bindings; nothing more")
    func matchesTopology() throws {
        let definitions = try Manifest.json(Self.file)
        let exchanges = definitions["exchanges"].array
        #expect(Set(exchanges.compactMap { $0["name"].string }) == Set(Self.topology.exchanges))
        #expect(exchanges.allSatisfy { $0["type"].string == "topic" && $0["durable"].bool == true })

        let queues = Dictionary(uniqueKeysWithValues: definitions["queues"].array.map { ($0["name"].string ?? "", $0) })
        #expect(Set(queues.keys) == Set(Self.topology.queues.map(\.name)))
        for queue in Self.topology.queues {
            let declared = queues[queue.name]
            #expect(declared?["durable"].bool == true, "\(queue.name) is durable")
            let arguments = declared?["arguments"].environment ?? [:]
            #expect(arguments == queue.arguments.mapValues(Self.json), "\(queue.name)'s arguments")
        }

        let bindings = definitions["bindings"].array.map { "\($0["source"].string ?? "") → \($0["destination"].string ?? "") (\($0["routing_key"].string ?? ""))" }
        let expected = Self.topology.bindings.map { "\($0.exchange) → \($0.queue) (\($0.routingKey))" }
        #expect(bindings.sorted() == expected.sorted())
    }

    @Test("imported into a real broker, the services' own declarations agree with it")
    func importsIntoTheBroker() async throws {
        let vhost = "definitions-test"
        let infra = packageRoot.appending(path: "scripts/infra.sh").path
        _ = try await runCommand(infra, ["ctl", "delete_vhost", vhost])
        _ = try await output(of: infra, "ctl", "add_vhost", vhost)
        _ = try await output(of: infra, "ctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

        // The file is for the default vhost; the test imports it into its own.
        let text = try String(contentsOf: Self.file, encoding: .utf8)
            .replacingOccurrences(of: #""vhost": "/""#, with: #""vhost": "\#(vhost)""#)
            .replacingOccurrences(of: #""name": "/""#, with: #""name": "\#(vhost)""#)
        let copy = FileManager.default.temporaryDirectory.appending(path: "definitions-\(UUID().uuidString).json")
        try text.write(to: copy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: copy) }
        _ = try await output(of: infra, "ctl", "import_definitions", copy.path)

        let listed = try await output(of: infra, "ctl", "-q", "list_queues", "-p", vhost, "name", "--no-table-headers")
        #expect(Set(listed.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }) == Set(Self.topology.queues.map(\.name)))

        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:5672/\(vhost)", connectionName: "definitions-test"))
        await #expect(throws: Never.self, "declaring the topology over the imported one") {
            try await Self.topology.declare(on: connection)
        }
        await connection.close()
        _ = try await output(of: infra, "ctl", "delete_vhost", vhost)
    }
}
