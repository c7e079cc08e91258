@testable import ServiceRuntime
import Testing
import Tracing

@Suite("Trace context without an exporter")
struct TraceParentTests {
    private let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    /// What goes out after `incoming` came in, through `TraceParentPassThrough`.
    private func passedOn(_ incoming: [String: String]) -> [String: String] {
        let instrument = TraceParentPassThrough()
        var context = ServiceContext.topLevel
        instrument.extract(incoming, into: &context, using: TraceHeaders())
        var outgoing: [String: String] = [:]
        instrument.inject(context, into: &outgoing, using: TraceHeaders())
        return outgoing
    }

    @Test("a valid traceparent goes on unchanged; none in, none out")
    func passesOn() {
        #expect(passedOn(["traceparent": valid]) == ["traceparent": valid])
        #expect(passedOn([:]).isEmpty)
        #expect(passedOn(["tracestate": "a=b"]).isEmpty)
    }

    @Test(
        "a malformed traceparent is dropped, not passed on",
        arguments: [
            "", "garbage", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ]
    )
    func dropsMalformed(_ value: String) {
        #expect(passedOn(["traceparent": value]).isEmpty)
    }

    @Test("traces are exported when an OTLP endpoint is set, and only then")
    func exportSwitch() throws {
        let none = try ServiceSettings(service: .orderAPI, environment: EnvironmentVariables([:]))
        #expect(!none.exportsTraces)
        let blank = try ServiceSettings(service: .orderAPI, environment: EnvironmentVariables(["OTEL_EXPORTER_OTLP_ENDPOINT": " "]))
        #expect(!blank.exportsTraces)
        for variable in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
            let set = try ServiceSettings(service: .orderAPI, environment: EnvironmentVariables([variable: "http://127.0.0.1:4318"]))
            #expect(set.exportsTraces, "\(variable)")
        }
    }

    @Test(
        "an OTLP setting the exporter cannot use stops the service with one line naming it",
        arguments: [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:4318"), ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http"),
        ]
    )
    func refusesUnusableExport(_ variable: String, _ value: String) {
        #expect {
            try ServiceSettings(service: .orderAPI, environment: EnvironmentVariables([variable: value]))
        } throws: { error in
            (error as? ConfigurationError)?.variable == variable
        }
    }
}
