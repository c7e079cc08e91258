import Foundation
import TestSupport
import Testing

/// Schemathesis (from PyPI, installed by `scripts/infra.sh install-test-tools`) against the
/// running order-api, generating requests from its own GET /openapi.json.
extension PipelineTests {
    /// One schemathesis run, reproducible by its seed; `extra` narrows or changes it.
    func schemathesis(_ extra: [String] = []) async throws -> CommandOutcome {
        let st = Pipeline.root.appending(path: ".run/tools/bin/st").path
        let configuration = Pipeline.root.appending(path: "Tests/API/schemathesis.toml").path
        return try await runCommand(st, [
            "--config-file", configuration, "run", "\(api)/openapi.json", "--checks", "all",
            // An endless stream, for the board.
            "--exclude-path", "/board/events",
            "--max-examples", "50", "--seed", "1", "--request-timeout", "10",
        ] + extra, limit: .seconds(600))
    }

    @Test("schemathesis: every answer conforms to the OpenAPI description, and none is a 5xx")
    func conformsToOpenAPI() async throws {
        try await pipeline.run()
        let run = try await schemathesis()
        #expect(run.status == 0, "\(run.output.suffix(6000))\(run.errors.suffix(2000))")
    }

    @Test("schemathesis: requests that break the description are all refused, and create no order")
    func invalidInputCreatesNothing() async throws {
        try await pipeline.run()
        _ = try await place("Pizza")
        let newest = try await newestOrderID()
        let run = try await schemathesis(["--mode", "negative", "--include-method", "POST"])
        #expect(run.status == 0, "\(run.output.suffix(6000))\(run.errors.suffix(2000))")
        #expect(try await newestOrderID() == newest)
    }
}
