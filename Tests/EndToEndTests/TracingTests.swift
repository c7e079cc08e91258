import AMQPClient
import Foundation
import OrderEvents
import PostgresNIO
import TestSupport
import Testing

/// Traces through the real services: the `traceparent` on the events and in the log lines,
/// and the spans each service exports over OTLP.
extension PipelineTests {
    /// The events of one order's happy path, and the service that emits each.
    static let tracedEvents: [(EventType, Pipeline.Service, schema: String)] = [
        (.orderPlaced, .orderAPI, "order_api"), (.inventoryReserved, .inventory, "inventory"), (.notificationSent, .notification, "notification"),
    ]

    @Test("one trace from the POST through every service: spans exported over OTLP, traceparent on every event, ids in the log lines")
    func traceThroughEveryService() async throws {
        let collector = OTLPCollector()
        try await collector.serving {
            let otlp = [
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "100",
            ]
            try await pipeline.run(apiSettings: otlp, inventorySettings: otlp, notificationSettings: otlp)
            let trace = TraceIDs()
            let (orderID, headers) = try await placeObserved(traceparent: trace.clientTraceparent)

            // Every event continues the client's trace.
            for (type, _, _) in Self.tracedEvents {
                let traceparent = try #require(headers[type], "\(type) carried no traceparent")
                #expect(TraceIDs.traceID(of: traceparent) == trace.traceID, "\(type): \(traceparent)")
            }

            // Each service exported its spans, one tree under the client's span.
            let expected: [(Pipeline.Service, OTLPCollector.Span.Kind, String)] = [
                (.orderAPI, .server, "/orders"), (.orderAPI, .producer, "publish orders"),
                (.inventory, .consumer, "process order-events"), (.inventory, .producer, "publish inventory"),
                (.notification, .consumer, "process inventory-events"), (.notification, .producer, "publish notifications"),
                (.orderAPI, .consumer, "process order-status"),
            ]
            // Spans arrive in each service's export batches: wait for all of them, the consumer
            // span of every event included.
            let publishSpans = Self.tracedEvents.map { type, _, _ in headers[type].flatMap(TraceIDs.spanID(of:)) }
            try await eventually(.seconds(20), "every service's spans of the trace") {
                let spans = collector.spans.filter { $0.traceID == trace.traceID }
                return expected.allSatisfy { service, kind, _ in spans.contains { $0.service == service.rawValue && $0.kind == kind } }
                    && publishSpans.allSatisfy { spanID in spans.contains { $0.parentSpanID == spanID && $0.kind == .consumer } }
            }
            let spans = collector.spans.filter { $0.traceID == trace.traceID }
            for (service, kind, name) in expected {
                #expect(spans.contains { $0.service == service.rawValue && $0.kind == kind && $0.name == name }, "\(service) \(kind) '\(name)' in \(spans)")
            }
            let known = Set(spans.map(\.spanID) + [trace.clientSpanID])
            for span in spans {
                #expect(span.parentSpanID.map(known.contains) == true, "\(span) has no parent in the trace")
            }
            // The header of each event names its publish span, the parent of its consumers' spans.
            for (type, service, _) in Self.tracedEvents {
                let spanID = headers[type].flatMap(TraceIDs.spanID(of:))
                #expect(spans.contains { $0.spanID == spanID && $0.service == service.rawValue && $0.kind == .producer }, "\(type)")
                #expect(spans.contains { $0.parentSpanID == spanID && $0.kind == .consumer }, "\(type)")
            }

            // The inventory worker's log line for this order names the trace.
            let lines = try Self.logLines(of: .inventory, containing: orderID)
            let reserved = try #require(lines.first { $0["message"] as? String == "stock reserved" })
            #expect(reserved["trace_id"] as? String == trace.traceID)
            #expect((reserved["span_id"] as? String)?.count == 16)
        }
    }

    @Test("without an exporter a client's traceparent goes on unchanged, and without one no event carries any")
    func traceparentPassesThrough() async throws {
        try await pipeline.run()
        let trace = TraceIDs()
        let (tracedOrder, traced) = try await placeObserved(traceparent: trace.clientTraceparent)
        for (type, _, _) in Self.tracedEvents {
            #expect(traced[type] == trace.clientTraceparent, "\(type)")
        }
        let lines = try Self.logLines(of: .inventory, containing: tracedOrder)
        #expect(!lines.isEmpty && lines.allSatisfy { $0["trace_id"] == nil }, "no ids in the logs without spans")

        let (_, untraced) = try await placeObserved(traceparent: nil)
        #expect(untraced.isEmpty, "\(untraced)")
    }

    // MARK: Helpers

    /// Places an order (with `traceparent`, if any) and waits until it is notified, watching
    /// its events from a queue of the test's own; returns the order id and the `traceparent`
    /// header of each event that had one.
    func placeObserved(traceparent: String?) async throws -> (orderID: String, traceparents: [EventType: String]) {
        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: Pipeline.rabbitURL, connectionName: "e2e-trace-tap"))
        let tap = "test-trace-tap-\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await connection.declareQueue(tap, durable: false, exclusive: true)
        for (type, _, _) in Self.tracedEvents {
            try await connection.bindQueue(tap, exchange: type.exchange, routingKey: type.routingKey)
        }
        var headers = [("Content-Type", "application/json")]
        if let traceparent { headers.append(("traceparent", traceparent)) }
        let response = try await HTTP.post("\(api)/orders", body: #"{"user_id":"tracer","item":"Taco","quantity":1}"#, headers: headers)
        try #require(response.status == 202)
        let orderID = try #require(response.string("order_id"))
        _ = try await waitUntilNotified([orderID])

        var seen: [EventType: String?] = [:]
        let deadline = ContinuousClock.now + .seconds(10)
        while seen.count < Self.tracedEvents.count {
            guard ContinuousClock.now < deadline else { throw TimedOut(what: "the order's events in the tap; saw \(seen)") }
            guard let delivery = try await connection.get(queue: tap) else {
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            try delivery.ack()
            guard String(decoding: delivery.body, as: UTF8.self).contains(orderID),
                  let type = delivery.properties.type.flatMap(EventType.init(rawValue:)) else { continue }
            seen[type] = delivery.headers["traceparent"]?.stringValue
        }
        await connection.close()
        return (orderID, seen.compactMapValues { $0 })
    }

    /// The JSON log lines of replica 1 of `service` that mention `text`.
    static func logLines(of service: Pipeline.Service, containing text: String) throws -> [[String: Any]] {
        let log = try String(contentsOf: Pipeline.root.appending(path: ".run/test-logs/\(service.rawValue)-1.log"), encoding: .utf8)
        return log.split(separator: "\n").filter { $0.contains(text) }.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }
}

/// A client's own trace: random ids, and the `traceparent` it sends.
struct TraceIDs {
    let traceID = Self.randomHex(bytes: 16)
    let clientSpanID = Self.randomHex(bytes: 8)

    var clientTraceparent: String { "00-\(traceID)-\(clientSpanID)-01" }

    static func traceID(of traceparent: String) -> String? { part(1, of: traceparent) }

    static func spanID(of traceparent: String) -> String? { part(2, of: traceparent) }

    private static func part(_ index: Int, of traceparent: String) -> String? {
        let parts = traceparent.split(separator: "-")
        return parts.count == 4 ? String(parts[index]) : nil
    }

    private static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
