import Foundation
import TestSupport
import Testing

/// deploy/monitoring: the alert rules pass promtool's checks and their own unit tests, reach
/// Kubernetes unchanged, and each tells the on-call person what to do; the dashboard's
/// queries parse. (That every metric they read exists is checked against running services:
/// `PipelineTests.monitoringMetricsExist`.)
@Suite("deploy/monitoring")
struct MonitoringTests {
    static let promtool = "/usr/bin/promtool"

    @Test("promtool checks the rules and the Prometheus configuration")
    func promtoolChecks() async throws {
        _ = try await output(of: Self.promtool, "check", "rules", Monitoring.directory.appending(path: "alerts.yml").path)
        _ = try await output(of: Self.promtool, "check", "config", Monitoring.directory.appending(path: "prometheus.yml").path)
    }

    @Test("every alert fires on the series that should fire it and stays quiet on a healthy one (promtool test rules)")
    func ruleUnitTests() async throws {
        let tested = try await output(of: Self.promtool, "test", "rules", Monitoring.directory.appending(path: "alerts.test.yml").path)
        #expect(tested.contains("SUCCESS"))
        let tests = try String(contentsOf: Monitoring.directory.appending(path: "alerts.test.yml"), encoding: .utf8)
        for rule in try Monitoring.rules() {
            let alert = try #require(rule["alert"] as? String)
            #expect(tests.contains("alertname: \(alert)\n        exp_alerts:\n          - exp_labels"), "no test where \(alert) fires")
        }
    }

    @Test("the rules the README asks for, each with a severity, a summary and a runbook")
    func rulesSayWhatToDo() throws {
        let rules = try Monitoring.rules()
        let alerts = Set(rules.compactMap { $0["alert"] as? String })
        #expect(alerts.isSuperset(of: [
            "OutboxBacklogGrowing", "OutboxUnroutable", "OrdersDeadLettered", "HighRetryRate", "OrdersRefused", "RelayLagHigh",
            "ServiceNotReady", "ConsumersMissing", "NoProgress",
        ]))
        for rule in rules {
            let labels = rule["labels"] as? [String: Any] ?? [:]
            let annotations = rule["annotations"] as? [String: Any] ?? [:]
            #expect(["warning", "critical"].contains(labels["severity"] as? String), "\(rule["alert"] ?? "?")")
            #expect((annotations["summary"] as? String)?.isEmpty == false, "\(rule["alert"] ?? "?")")
            #expect((annotations["runbook"] as? String)?.count ?? 0 > 40, "\(rule["alert"] ?? "?")")
        }
    }

    @Test("the Kubernetes base carries alerts.yml unchanged as a PrometheusRule", arguments: KubernetesTests.overlays)
    func prometheusRule(_ overlay: String) async throws {
        let rendered = try await KubernetesTests.render(overlay)
        let rule = try rendered.one("PrometheusRule", "order-pipeline")
        let file = try Manifest.yaml(String(contentsOf: Monitoring.directory.appending(path: "alerts.yml"), encoding: .utf8))[0]
        #expect(try Self.canonical(rule["spec"]["groups"]) == Self.canonical(file["groups"]), "deploy/k8s/base/alert-rules.yaml differs: run deploy/monitoring/render-prometheus-rule.sh")
    }

    /// A parsed value as JSON with sorted keys, to compare two documents by content.
    static func canonical(_ value: Manifest) throws -> Data {
        try JSONSerialization.data(withJSONObject: try #require(value.value), options: .sortedKeys)
    }

    @Test("the dashboard has the panels an on-call person opens first, each with a query")
    func dashboardPanels() throws {
        let queries = try Monitoring.dashboardQueries()
        let read = queries.reduce(into: Set<String>()) { $0.formUnion(Monitoring.metricNames(in: $1.expression)) }
        #expect(read.isSuperset(of: [
            "orders_accepted_total", "order_completion_seconds_count", "order_completion_seconds_bucket", "rabbitmq_queue_messages_ready",
            "rabbitmq_queue_consumers", "rabbitmq_queue_messages", "outbox_backlog", "outbox_relay_lag_seconds_bucket",
            "consumer_deliveries_total", "amqp_reconnects_total",
        ]))
    }

    @Test("metric names are read out of PromQL, not its functions, labels, ranges or keywords")
    func metricNamesOfAnExpression() {
        let expression = #"sum by (queue) (rabbitmq_queue_messages_ready{queue=~"a|b"}) > 0 unless on (queue) sum by (queue) (rate(consumer_deliveries_total[5m])) > 0.5"#
        #expect(Monitoring.metricNames(in: expression) == ["rabbitmq_queue_messages_ready", "consumer_deliveries_total"])
        #expect(Monitoring.metricNames(in: "histogram_quantile(0.99, sum by (job, le) (rate(x_bucket[$__rate_interval]))) > 1") == ["x_bucket"])
    }
}
