import AMQPClient
import Testing

@Suite("AMQP URLs and backoff")
struct ConfigurationTests {
    @Test("a full URL sets every part, percent-decoded")
    func fullURL() throws {
        let configuration = try AMQPConfiguration(url: "amqp://us%40er:p%3Ass@broker.local:5673/%2fprod", connectionName: "t")
        #expect(configuration.user == "us@er")
        #expect(configuration.password == "p:ss")
        #expect(configuration.host == "broker.local")
        #expect(configuration.port == 5673)
        #expect(configuration.virtualHost == "/prod")
    }

    @Test("the default URL means the default virtual host")
    func defaultURL() throws {
        let configuration = try AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:5672/%2f", connectionName: "t")
        #expect(configuration.virtualHost == "/")
        #expect(configuration.connectionName == "t")
    }

    @Test("missing parts keep their defaults")
    func partialURL() throws {
        let configuration = try AMQPConfiguration(url: "amqp://rabbit", connectionName: "t")
        #expect(configuration.host == "rabbit")
        #expect(configuration.port == 5672)
        #expect(configuration.user == "guest")
        #expect(configuration.virtualHost == "/")
    }

    @Test("bad URLs are refused", arguments: ["http://host", "amqp://host:notaport", "amqp://host:70000", "amqp://host/%zz"])
    func badURL(url: String) {
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: url, connectionName: "t") }
    }

    @Test("backoff grows, is capped, and is jittered within half of its ceiling")
    func backoff() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
        for attempt in 0..<40 {
            let ceiling = min(Duration.seconds(2), .milliseconds(100) * (1 << min(attempt, 30)))
            let delay = backoff.delay(forAttempt: attempt)
            #expect(delay >= ceiling / 2 && delay <= ceiling)
        }
    }
}
