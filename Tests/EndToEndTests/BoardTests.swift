import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// The order board, in headless Chromium driven by Selenium (`Tests/Browser/board_test.py`).
extension PipelineTests {
    @Test("the order board: an order placed in the browser reaches notified; an invalid quantity shows the API's message; the pipeline chart moves as orders flow and counts each once")
    func boardInBrowser() async throws {
        try await pipeline.run()
        let page = try await HTTP.get("\(api)/")
        #expect(page.status == 200)
        #expect(page.headers["Content-Type"].first == "text/html; charset=utf-8")
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(!html.contains("http://") && !html.contains("https://"), "the page loads nothing from elsewhere")

        let screenshot = Pipeline.root.appending(path: ".run/board.png")
        let outcome = try await Pipeline.execute(
            "/usr/bin/python3", [Pipeline.root.appending(path: "Tests/Browser/board_test.py").path, api, screenshot.path], limit: .seconds(120)
        )
        #expect(outcome.status == 0, "\(outcome.errors)\(outcome.output) (needs chromium, chromium-driver and python3-selenium: scripts/infra.sh install-test-tools)")
        #expect(FileManager.default.fileExists(atPath: screenshot.path))
    }

    @Test("GET /system: every queue of the topology with its counts, and the outbox backlog")
    func systemStatus() async throws {
        try await pipeline.run()
        let api = self.api
        @Sendable func queues() async throws -> [[String: Any]] { try await HTTP.get("\(api)/system").json["queues"] as? [[String: Any]] ?? [] }
        // The management API publishes its counts every few seconds, so a new queue's come later.
        try await eventually(.seconds(20), "order-events to show its counts and its consumer") {
            let orderEvents = try await queues().first { $0["name"] as? String == "order-events" }
            return orderEvents?["consumers"] as? Int == 1 && orderEvents?["ready"] is Int && orderEvents?["unacked"] is Int
        }
        let all = try await queues()
        let names = Set(all.compactMap { $0["name"] as? String })
        #expect(names.isSuperset(of: ["order-events", "inventory-events", "order-status", "order-events-dlq", "inventory-events-dlq", "order-status-dlq", "order-events-retry-1s"]))
        #expect(all.first { $0["name"] as? String == "order-events" }?["kind"] as? String == "work")
        #expect(all.first { $0["name"] as? String == "order-events-dlq" }?["kind"] as? String == "dead_letter")
        #expect(all.first { $0["name"] as? String == "order-events-retry-1s" }?["kind"] as? String == "retry")
        #expect(try await HTTP.get("\(api)/system").json["outbox_backlog"] is Int)
    }

    @Test("GET /board/events: the newest orders at once, then each change in batches")
    func boardStream() async throws {
        try await pipeline.run()
        let id = try await place("Taco")
        let events = try await HTTP.events("\(api)/board/events", until: { text in
            Self.boardOrders(text).contains { $0["order_id"] as? String == id && $0["notified_at"] is String }
        })
        #expect(events.hasPrefix("event: orders\ndata: ["))
        #expect(Self.boardOrders(events).contains { $0["order_id"] as? String == id && $0["status"] as? String == "reserved" })
    }

    /// Every order in the `orders` events of a board stream.
    static func boardOrders(_ text: String) -> [[String: Any]] {
        text.components(separatedBy: "\n\n").flatMap { event -> [[String: Any]] in
            guard event.hasPrefix("event: orders\ndata: ") else { return [] }
            let data = Data(event.dropFirst("event: orders\ndata: ".count).utf8)
            return (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
        }
    }
}
