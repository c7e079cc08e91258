import Foundation
import TestSupport
import Testing

/// `/metrics` of the real services, in Prometheus text format.
extension PipelineTests {
    /// The value of the sample `name` whose labels include `labels`, or nil when there is none.
    static func sample(_ name: String, _ labels: [String: String] = [:], in metrics: String) -> Double? {
        for line in metrics.split(separator: "\n") where line.hasPrefix("\(name){") || line.hasPrefix("\(name) ") {
            let matches = labels.allSatisfy { line.contains(#"\#($0.key)="\#($0.value)""#) }
            if matches, let value = line.split(separator: " ").last.flatMap({ Double($0) }) { return value }
        }
        return nil
    }

    static func metrics(_ service: Pipeline.Service, replica: Int = 1) async throws -> String {
        let response = try await HTTP.get("http://127.0.0.1:\(Pipeline.port(service, replica: replica))/metrics")
        try #require(response.status == 200)
        return String(decoding: response.body, as: UTF8.self)
    }

    @Test("/metrics: HTTP requests by route and status, orders accepted, deliveries by outcome, handler time, outbox backlog, relay lag, confirm latency, completions, readiness")
    func metrics() async throws {
        try await pipeline.run()
        let ids = try await place(3, of: "Sushi")
        _ = try await waitUntilNotified(ids)
        _ = try await HTTP.post("\(api)/orders", body: "{}")

        let api = try await Self.metrics(.orderAPI)
        #expect(Self.sample("http_requests_total", ["route": "/orders", "method": "POST", "status": "202"], in: api) ?? 0 >= 3)
        #expect(Self.sample("http_requests_total", ["route": "/orders", "method": "POST", "status": "400"], in: api) ?? 0 >= 1)
        #expect(Self.sample("http_request_duration_seconds_count", ["route": "/orders", "method": "POST", "status": "202"], in: api) ?? 0 >= 3)
        #expect(Self.sample("orders_accepted_total", in: api) ?? 0 >= 3)
        #expect(Self.sample("consumer_deliveries_total", ["queue": "order-status", "outcome": "acked"], in: api) ?? 0 >= 6, "InventoryReserved and NotificationSent of each")
        #expect(Self.sample("outbox_relay_lag_seconds_count", in: api) ?? 0 >= 3)
        #expect(Self.sample("outbox_publish_confirm_duration_seconds_count", in: api) ?? 0 >= 1)
        #expect(Self.sample("amqp_reconnects_total", in: api) == 0)
        try await eventually(.seconds(15), "the outbox backlog gauge to read 0") {
            Self.sample("outbox_backlog", in: try await Self.metrics(.orderAPI)) == 0
        }

        #expect(Self.sample("order_completion_seconds_count", in: api) ?? 0 >= 3, "each order counted once it is notified")
        #expect(Self.sample("service_ready", in: api) == 1)

        for (service, queue) in [(Pipeline.Service.inventory, "order-events"), (.notification, "inventory-events")] {
            let worker = try await Self.metrics(service)
            #expect(Self.sample("consumer_deliveries_total", ["queue": queue, "outcome": "acked"], in: worker) ?? 0 >= 3, "\(queue)")
            #expect(Self.sample("consumer_handler_duration_seconds_count", ["queue": queue], in: worker) ?? 0 >= 3, "\(queue)")
            #expect(Self.sample("outbox_relay_lag_seconds_count", in: worker) ?? 0 >= 3, "\(queue)")
        }
    }

    @Test("deploy/monitoring reads only metrics that exist: each name in the dashboard and the alert rules is on a running service's or the broker's /metrics")
    func monitoringMetricsExist() async throws {
        try await pipeline.run()
        _ = try await waitUntilNotified(try await place(2, of: "Burger"))
        var exposed = ""
        for service in [Pipeline.Service.orderAPI, .inventory, .notification] { exposed += try await Self.metrics(service) }
        // RabbitMQ's rabbitmq_prometheus, with per-queue series (scripts/infra.sh enables both).
        let broker = try await HTTP.get("http://127.0.0.1:15692/metrics")
        try #require(broker.status == 200, "the broker's Prometheus endpoint")
        exposed += String(decoding: broker.body, as: UTF8.self)
        let names = Set(exposed.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init) })

        for (panel, expression) in try Monitoring.dashboardQueries() {
            let missing = Monitoring.metricNames(in: expression).subtracting(names)
            #expect(missing.isEmpty, "dashboard panel '\(panel)' reads \(missing.sorted()), which nothing exposes")
        }
        // `up` is Prometheus's own; outbox_unroutable has a series per route once the broker returned an event of it.
        let onlyUnderFaults: Set<String> = ["up", "outbox_unroutable"]
        for rule in try Monitoring.rules() {
            let expression = try #require(rule["expr"] as? String)
            let missing = Monitoring.metricNames(in: expression).subtracting(names).subtracting(onlyUnderFaults)
            #expect(missing.isEmpty, "alert \(rule["alert"] ?? "?") reads \(missing.sorted()), which nothing exposes")
        }
    }
}
