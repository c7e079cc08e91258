import AMQPClient
import InventoryService
import OrderEvents
import ServiceRuntime
import Testing

@Suite("Configuration from the environment")
struct ServiceConfigurationTests {
    func settings(_ values: [String: String]) throws(ConfigurationError) -> ServiceSettings {
        try ServiceSettings(service: .orderAPI, environment: EnvironmentVariables(values))
    }

    @Test("defaults work with nothing set")
    func defaults() throws {
        let settings = try settings([:])
        #expect(settings.httpPort == 8101)
        #expect(settings.bindAddress == "127.0.0.1")
        #expect(settings.broker.nodes[0].host == "127.0.0.1" && settings.broker.nodes[0].virtualHost == "/")
        #expect(settings.database.database == "orders" && settings.database.user == "orders")
        #expect(settings.retention == .seconds(7 * 86400))
        #expect(settings.replica == 1)
        #expect(settings.broker.maxAttempts == 5)
        #expect(settings.broker.topology.retryDelays == [.seconds(1), .seconds(5), .seconds(30)])
        #expect(settings.faults.failureRate == 0 && settings.faults.crashItem == nil)
    }

    @Test("failure handling: RETRY_DELAYS, MAX_ATTEMPTS, DELIVERY_LIMIT and the injected faults")
    func failureHandling() throws {
        let settings = try settings([
            "RETRY_DELAYS": "200ms, 2s", "MAX_ATTEMPTS": "3", "DELIVERY_LIMIT": "4", "FAULT_FAILURE_RATE": "0.25", "FAULT_CRASH_ITEM": "Kaboom",
        ])
        #expect(settings.broker.topology.retryDelays == [.milliseconds(200), .seconds(2)])
        #expect(settings.broker.maxAttempts == 3)
        #expect(settings.broker.topology.queues.first { $0.name == "order-events" }?.arguments["x-delivery-limit"]?.intValue == 4)
        #expect(settings.faults.failureRate == 0.25 && settings.faults.crashItem == "Kaboom")
    }

    @Test("the RABBITMQ_* parts override the URL")
    func brokerOverrides() throws {
        let settings = try settings([
            "RABBITMQ_URL": "amqp://a:b@broker:5673/%2fprod", "RABBITMQ_HOST": "other", "RABBITMQ_USER": "svc", "RABBITMQ_VHOST": "v",
        ])
        #expect(settings.broker.nodes[0].host == "other")
        #expect(settings.broker.nodes[0].port == 5673)
        #expect(settings.broker.nodes[0].user == "svc")
        #expect(settings.broker.nodes[0].password == "b")
        #expect(settings.broker.nodes[0].virtualHost == "v")
    }

    @Test("RABBITMQ_URL may name the nodes of a cluster, comma-separated; the RABBITMQ_* parts override each")
    func brokerNodes() throws {
        let settings = try settings([
            "RABBITMQ_URL": "amqp://a:b@n1:5672/%2f, amqp://a:b@n2:5673/%2f,amqp://a:b@n3/%2f", "RABBITMQ_VHOST": "v",
        ])
        #expect(settings.broker.nodes.map { "\($0.host):\($0.port)" } == ["n1:5672", "n2:5673", "n3:5672"])
        #expect(settings.broker.nodes.allSatisfy { $0.user == "a" && $0.virtualHost == "v" })
    }

    @Test("a bad value is refused with the variable's name", arguments: [
        ("PORT", "http"), ("PORT", "70000"), ("RABBITMQ_URL", "http://x"), ("RABBITMQ_URL", "amqp://a/%2f,,amqp://b/%2f"), ("RABBITMQ_URL", "amqp://a/%2f,http://b"), ("DATABASE_URL", "mysql://x/y"),
        ("LOG_LEVEL", "loud"), ("LOG_FORMAT", "xml"), ("PREFETCH", "0"), ("CONCURRENCY", "-1"),
        ("RABBITMQ_QUEUE_TYPE", "stream"), ("DELIVERY_LIMIT", "zero"), ("RETENTION", "forever"), ("REPLICA", "0"),
        ("RETRY_DELAYS", "1s,,5s"), ("RETRY_DELAYS", "1s,soon"), ("RETRY_DELAYS", "0s"), ("MAX_ATTEMPTS", "0"),
        ("FAULT_FAILURE_RATE", "1.5"), ("FAULT_FAILURE_RATE", "often"),
    ])
    func badValue(variable: String, value: String) {
        #expect { try settings([variable: value]) } throws: { ($0 as? ConfigurationError)?.variable == variable }
    }

    @Test("durations", arguments: [("500ms", Duration.milliseconds(500)), ("30s", .seconds(30)), ("15m", .seconds(900)), ("24h", .seconds(86400)), ("7d", .seconds(604_800)), ("90", .seconds(90))])
    func durations(text: String, expected: Duration) throws {
        #expect(try EnvironmentVariables(["RETENTION": text]).duration("RETENTION", default: .zero) == expected)
    }

    @Test("INVENTORY_INITIAL_STOCK: the default, a custom list, and bad lists")
    func initialStock() throws {
        #expect(try InitialStock(environment: EnvironmentVariables([:])).items == ["Burger": 1000, "Pizza": 1000, "Salad": 1000, "Taco": 1000, "Sushi": 1000])
        #expect(try InitialStock(environment: EnvironmentVariables(["INVENTORY_INITIAL_STOCK": "Tea=5, Cake = 0"])).items == ["Tea": 5, "Cake": 0])
        for bad in ["Tea", "Tea=-1", "=5", "Tea=many", ","] {
            #expect { try InitialStock(environment: EnvironmentVariables(["INVENTORY_INITIAL_STOCK": bad])) } throws: {
                ($0 as? ConfigurationError)?.variable == "INVENTORY_INITIAL_STOCK"
            }
        }
    }
}
