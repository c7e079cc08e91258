import AMQPClient
import Foundation
import OrderEvents

/// What the executables do until their services are built: read the configuration, reach the
/// broker and declare the topology, then stop. Each failure is one clear line and exit 1.
public enum TopologyBootstrap {
    public static func run(service: String) async {
        do {
            let settings = try BrokerSettings(environment: Environment(), service: service)
            let connection = try await AMQPConnection.connect(settings.connection)
            try await settings.topology.declare(on: connection)
            await connection.close()
            print("\(service): topology declared on \(settings.connection.host):\(settings.connection.port)")
        } catch {
            FileHandle.standardError.write(Data("\(service): \(error)\n".utf8))
            exit(1)
        }
    }
}
