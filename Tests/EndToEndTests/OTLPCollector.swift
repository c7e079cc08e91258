import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import TestSupport

/// A stand-in for an OpenTelemetry collector: receives OTLP/HTTP in its JSON encoding on
/// `/v1/traces` and keeps the spans, for as long as `serving` runs.
final class OTLPCollector: Sendable {
    struct Span: Sendable, CustomStringConvertible {
        /// OTLP span kinds.
        enum Kind: Int, Sendable {
            case unspecified, `internal`, server, client, producer, consumer
        }

        let service: String
        let name: String
        let kind: Kind
        let traceID: String
        let spanID: String
        let parentSpanID: String?

        var description: String { "\(service) \(kind) '\(name)' \(spanID) ← \(parentSpanID ?? "root")" }
    }

    static let port = 14318
    let endpoint = "http://127.0.0.1:\(OTLPCollector.port)"
    private let received = Mutex<[Span]>([])

    var spans: [Span] { received.withLock { $0 } }

    /// Runs the collector while `body` runs.
    func serving<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let router = Router()
        router.post("/v1/traces") { request, _ in
            let payload = try await request.body.collect(upTo: 16 << 20)
            let spans = try Self.spans(in: Data(payload.readableBytesView))
            self.received.withLock { $0 += spans }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: "{}")))
        }
        router.get("/health") { _, _ in HTTPResponse.Status.ok }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: Self.port)))
        let services = ServiceGroup(services: [app], logger: Logger(label: "otlp-collector"))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            let outcome: Result<T, any Error>
            do {
                try await eventually(.seconds(10), "the OTLP collector to listen") {
                    (try? await HTTP.get("\(self.endpoint)/health", timeout: .seconds(1)).status) == 200
                }
                outcome = .success(try await body())
            } catch {
                outcome = .failure(error)
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return try outcome.get()
        }
    }

    /// The spans of an `ExportTraceServiceRequest`, with their service's name.
    private static func spans(in json: Data) throws -> [Span] {
        let request = try JSONSerialization.jsonObject(with: json) as? [String: Any] ?? [:]
        var spans: [Span] = []
        for resourceSpans in request["resourceSpans"] as? [[String: Any]] ?? [] {
            let attributes = (resourceSpans["resource"] as? [String: Any])?["attributes"] as? [[String: Any]] ?? []
            let service = attributes.first { $0["key"] as? String == "service.name" }
                .flatMap { ($0["value"] as? [String: Any])?["stringValue"] as? String } ?? "?"
            for scopeSpans in resourceSpans["scopeSpans"] as? [[String: Any]] ?? [] {
                for span in scopeSpans["spans"] as? [[String: Any]] ?? [] {
                    spans.append(Span(
                        service: service, name: span["name"] as? String ?? "",
                        kind: Span.Kind(rawValue: span["kind"] as? Int ?? 0) ?? .unspecified,
                        traceID: hex(span["traceId"] as? String ?? ""), spanID: hex(span["spanId"] as? String ?? ""),
                        parentSpanID: (span["parentSpanId"] as? String).map(hex).flatMap { $0.isEmpty ? nil : $0 }
                    ))
                }
            }
        }
        return spans
    }

    /// An id as lowercase hex: OTLP's JSON encoding asks for hex, protobuf's JSON mapping
    /// gives base64; either is accepted.
    private static func hex(_ id: String) -> String {
        if [32, 16].contains(id.count), id.allSatisfy(\.isHexDigit) { return id.lowercased() }  // base64 of 16 or 8 bytes is 24 or 12 long
        guard let bytes = Data(base64Encoded: id) else { return id }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }
}
