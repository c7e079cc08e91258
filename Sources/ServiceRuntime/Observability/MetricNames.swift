import Foundation
import Prometheus

/// How every metric is named on `/metrics`: Hummingbird's HTTP metrics under the
/// conventional Prometheus names (`http_requests_total{route, method, status}`,
/// `http_request_duration_seconds`), and dots in any other name or label turned into
/// underscores.
enum MetricNames {
    static let renamed = [
        "hb.requests": "http_requests_total",
        "hb.request.errors": "http_request_errors_total",
        "http.server.request.duration": "http_request_duration_seconds",
        "http.server.active_requests": "http_requests_in_flight",
    ]
    static let renamedLabels = ["http.route": "route", "http.request.method": "method", "http.response.status_code": "status"]

    @Sendable static func sanitize(_ name: String, _ labels: [(String, String)]) -> (String, [(String, String)]) {
        (renamed[name] ?? underscored(name), labels.map { (renamedLabels[$0.0] ?? underscored($0.0), $0.1) })
    }

    private static func underscored(_ text: String) -> String { text.replacingOccurrences(of: ".", with: "_") }

    /// The factory every service bootstraps swift-metrics with; durations from 1 ms to 10 s.
    static func factory(_ registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = sanitize
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .microseconds(2_500_000), .seconds(5), .seconds(10),
        ]
        return factory
    }
}
