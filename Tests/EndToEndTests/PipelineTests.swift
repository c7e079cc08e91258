import AMQPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import OrderEvents
import TestSupport
import Synchronization
import Testing

/// The whole system, as its users run it. Serialized: the tests stop and start services,
/// the broker and the database.
@Suite("The order pipeline end to end", .serialized, .stopsPipelineAfterwards)
struct PipelineTests {
    let pipeline = Pipeline.shared
    let api = Pipeline.orderAPI

    // MARK: Helpers

    /// Places an order and expects 202; returns its id.
    func place(_ item: String, quantity: Int = 1, user: String = "e2e") async throws -> String {
        let response = try await HTTP.post("\(api)/orders", body: #"{"user_id":"\#(user)","item":"\#(item)","quantity":\#(quantity)}"#)
        try #require(response.status == 202, "POST /orders answered \(response.status): \(String(decoding: response.body, as: UTF8.self))")
        return try #require(response.string("order_id"))
    }

    /// Places `count` orders, `concurrency` at a time; every one must be accepted.
    func place(_ count: Int, of item: String, concurrency: Int = 16, afterEach: @escaping @Sendable (Int) async throws -> Void = { _ in }) async throws -> [String] {
        try await withThrowingTaskGroup(of: String.self) { group in
            var ids: [String] = []
            for index in 0..<count {
                if index >= concurrency { ids.append(try await group.next()!) }
                group.addTask {
                    let id = try await place(item)
                    try await afterEach(index)
                    return id
                }
            }
            for try await id in group { ids.append(id) }
            return ids
        }
    }

    func order(_ id: String) async throws -> [String: Any] {
        try await HTTP.get("\(api)/orders/\(id)").json
    }

    /// Waits until every order is notified, and returns them.
    func waitUntilNotified(_ ids: [String], within limit: Duration = .seconds(90)) async throws -> [[String: Any]] {
        let api = self.api
        do {
            try await eventually(limit, "\(ids.count) orders to be notified") {
                for id in ids {
                    let order = try await HTTP.get("\(api)/orders/\(id)").json
                    if order["notified_at"] is NSNull || order["notified_at"] == nil { return false }
                }
                return true
            }
        } catch let error as TimedOut {
            Issue.record("recent warnings of the services:\n\(Pipeline.recentProblems())")
            throw error
        }
        var orders: [[String: Any]] = []
        for id in ids { orders.append(try await order(id)) }
        return orders
    }

    /// Waits until no order is still `accepted` (on its way to the inventory), so that stock
    /// read afterwards is not changed later by an earlier test's orders.
    func waitUntilSettled() async throws {
        let api = self.api
        try await eventually(.seconds(90), "earlier orders to leave accepted") {
            try await HTTP.get("\(api)/orders?status=accepted&limit=1").json["count"] as? Int == 0
        }
    }

    /// Stock of an item, read from whichever inventory replica answers.
    func stock(_ item: String) async throws -> (available: Int, reserved: Int) {
        for replica in 1...3 {
            guard let response = try? await HTTP.get("http://127.0.0.1:\(Pipeline.port(.inventory, replica: replica))/inventory/\(item)"),
                  response.status == 200
            else { continue }
            let json = response.json
            return (json["available"] as? Int ?? -1, json["reserved"] as? Int ?? -1)
        }
        throw TimedOut(what: "an inventory replica to answer")
    }

    /// The id of the newest order, to show that a request created none.
    func newestOrderID() async throws -> String? {
        let orders = try await HTTP.get("\(api)/orders?limit=1").json["orders"] as? [[String: Any]]
        return orders?.first?["order_id"] as? String
    }

    // MARK: The happy paths

    @Test("an order is reserved and notified, and its history shows each step")
    func reservedAndNotified() async throws {
        try await pipeline.run()
        let response = try await HTTP.post("\(api)/orders", body: #"{"user_id":"alice","item":"Pizza","quantity":2}"#)
        #expect(response.status == 202)
        #expect(response.string("status") == "accepted")
        #expect(response.string("message") == "Order received and being processed")
        let id = try #require(response.string("order_id"))
        #expect(response.headers["Location"].first == "/orders/\(id)")
        #expect(response.string("timestamp").flatMap(EventCoding.parseTimestamp) != nil)

        let order = try #require(try await waitUntilNotified([id]).first)
        #expect(order["status"] as? String == "reserved")
        #expect(order["user_id"] as? String == "alice" && order["item"] as? String == "Pizza" && order["quantity"] as? Int == 2)
        #expect(order["reason"] == nil)
        let history = (order["history"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
        #expect(history == ["accepted", "reserved", "notified"])
    }

    @Test("an unknown item is rejected with its reason and notified")
    func unknownItemRejected() async throws {
        try await pipeline.run()
        let id = try await place("Caviar")
        let order = try #require(try await waitUntilNotified([id]).first)
        #expect(order["status"] as? String == "rejected")
        #expect(order["reason"] as? String == "unknown_item")
    }

    @Test("the event stream sends the order at once and each change, and ends once it is notified")
    func serverSentEvents() async throws {
        try await pipeline.run()
        let id = try await place("Salad")
        let stream = try await within(.seconds(60), "the stream to end") { try await HTTP.get("\(Pipeline.orderAPI)/orders/\(id)/events") }
        #expect(stream.status == 200)
        #expect(stream.headers["Content-Type"].first == "text/event-stream")
        let events = String(decoding: stream.body, as: UTF8.self).components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(events.allSatisfy { $0.hasPrefix("event: status\ndata: ") })
        let last = try #require(events.last.flatMap { $0.split(separator: "data: ", maxSplits: 1).last })
        let order = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect(order["status"] as? String == "reserved")
        #expect(!(order["notified_at"] is NSNull))
    }

    @Test("with NOTIFY_WEBHOOK_URL the customer is notified by an HTTP POST, retried until the receiver takes it")
    func webhook() async throws {
        let receiver = WebhookReceiver(failFirst: 1)
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 64 * 1024)
            return receiver.receive(Data(body.readableBytesView)) ? .noContent : .internalServerError
        }
        let receiverApp = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await receiverApp.test(.live) { client in
            let port = try #require(client.port)
            try await pipeline.run(notificationSettings: ["NOTIFY_WEBHOOK_URL": "http://127.0.0.1:\(port)/hook"])
            let id = try await place("Burger", quantity: 4, user: "carol")
            let order = try #require(try await waitUntilNotified([id]).first)
            #expect((order["history"] as? [[String: Any]])?.last?["detail"] as? String == "reserved via webhook")
        }
        let posts = receiver.bodies.compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        #expect(posts.count == 2, "the first POST was refused, so it was sent again")
        let notification = try #require(posts.last)
        #expect(notification["user_id"] as? String == "carol")
        #expect(notification["outcome"] as? String == "reserved")
        #expect(notification["item"] as? String == "Burger" && notification["quantity"] as? Int == 4)
        #expect(posts.first?["notification_id"] as? String == notification["notification_id"] as? String)
    }

    // MARK: Bad input

    @Test("each invalid request gets its status code and creates nothing")
    func invalidRequests() async throws {
        try await pipeline.run()
        _ = try await place("Burger")
        let newest = try await newestOrderID()
        let json = [("Content-Type", "application/json")]
        let cases: [(body: String, headers: [(String, String)], status: Int, field: String?)] = [
            ("{not json", json, 400, nil),
            ("[1, 2]", json, 400, nil),
            (#"{"item":"Pizza"}"#, json, 400, "user_id"),
            (#"{"user_id":"u"}"#, json, 400, "item"),
            (#"{"user_id":7,"item":"Pizza"}"#, json, 400, "user_id"),
            (#"{"user_id":"u","item":"Pizza","quantity":"2"}"#, json, 400, "quantity"),
            (#"{"user_id":"u","item":"Pizza","quantity":1.5}"#, json, 400, "quantity"),
            (#"{"user_id":"","item":"Pizza"}"#, json, 400, "user_id"),
            (#"{"user_id":"\#(String(repeating: "u", count: 65))","item":"Pizza"}"#, json, 400, "user_id"),
            (#"{"user_id":"u","item":"\#(String(repeating: "i", count: 65))"}"#, json, 400, "item"),
            (#"{"user_id":"u","item":"Pizza","quantity":0}"#, json, 400, "quantity"),
            (#"{"user_id":"u","item":"Pizza","quantity":101}"#, json, 400, "quantity"),
            (#"{"user_id":"u","item":"Pizza","pad":"\#(String(repeating: "x", count: 17 * 1024))"}"#, json, 413, nil),
            (#"{"user_id":"u","item":"Pizza"}"#, [("Content-Type", "text/plain")], 415, nil),
            (#"{"user_id":"u","item":"Pizza"}"#, json + [("Idempotency-Key", String(repeating: "k", count: 256))], 400, "Idempotency-Key"),
        ]
        for (body, headers, status, field) in cases {
            let response = try await HTTP.post("\(api)/orders", body: body, headers: headers)
            #expect(response.status == status, "\(body.prefix(60)) answered \(response.status)")
            let error = response.json["error"] as? [String: Any]
            #expect(error?["message"] is String, "\(body.prefix(60)) has no error message")
            #expect(error?["field"] as? String == field, "\(body.prefix(60)) names field \(String(describing: error?["field"]))")
        }
        #expect(try await newestOrderID() == newest, "an invalid request created an order")

        #expect(try await HTTP.get("\(api)/orders/not-a-uuid").status == 400)
        #expect(try await HTTP.get("\(api)/orders/\(UUID().uuidString)").status == 404)
        #expect(try await HTTP.get("\(api)/orders?limit=0").status == 400)
        #expect(try await HTTP.get("\(api)/orders?limit=501").status == 400)
        #expect(try await HTTP.get("\(api)/orders?status=shipped").status == 400)
    }

    @Test("Idempotency-Key: the same body replays the first order; a different body is refused")
    func idempotency() async throws {
        try await pipeline.run()
        let key = "order-\(UUID().uuidString)"
        let headers = [("Content-Type", "application/json"), ("Idempotency-Key", key)]
        let first = try await HTTP.post("\(api)/orders", body: #"{"user_id":"bob","item":"Taco","quantity":1}"#, headers: headers)
        #expect(first.status == 202)
        #expect(first.headers["Idempotent-Replayed"].isEmpty)
        let newest = try await newestOrderID()

        let again = try await HTTP.post("\(api)/orders", body: #"{"user_id":"bob","item":"Taco"}"#, headers: headers)
        #expect(again.status == 202)
        #expect(again.string("order_id") == first.string("order_id"))
        #expect(again.headers["Idempotent-Replayed"].first == "true")

        let different = try await HTTP.post("\(api)/orders", body: #"{"user_id":"bob","item":"Taco","quantity":2}"#, headers: headers)
        #expect(different.status == 422)
        #expect(try await newestOrderID() == newest, "a replay or a conflict created an order")
    }

    @Test("listing pages through orders newest first")
    func listing() async throws {
        try await pipeline.run()
        let ids = try await place(3, of: "Burger", concurrency: 1)
        let page = try await HTTP.get("\(api)/orders?limit=2").json
        #expect(page["count"] as? Int == 2)
        let first = (page["orders"] as? [[String: Any]] ?? []).compactMap { $0["order_id"] as? String }
        #expect(first == [ids[2], ids[1]])
        let cursor = try #require(page["next"] as? String)
        let next = try await HTTP.get("\(api)/orders?limit=1&after=\(cursor)").json
        #expect((next["orders"] as? [[String: Any]])?.first?["order_id"] as? String == ids[0])
    }

    // MARK: Exactly once

    @Test("the same OrderPlaced delivered three times reserves once")
    func duplicateDelivery() async throws {
        // One consumer taking one message at a time, so the sentinel is handled after the copies.
        try await pipeline.run(inventorySettings: ["PREFETCH": "1", "CONCURRENCY": "1"])
        try await waitUntilSettled()
        let before = try await stock("Burger")
        let sentinelBefore = try await stock("Salad")
        let placed = Event(metadata: EventMetadata(orderID: UUID()), payload: OrderPlaced(userID: "dup", item: "Burger", quantity: 3))
        let sentinel = Event(metadata: EventMetadata(orderID: UUID()), payload: OrderPlaced(userID: "dup", item: "Salad", quantity: 1))
        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: Pipeline.rabbitURL, connectionName: "e2e-duplicates"))
        for event in [placed, placed, placed] {
            try await connection.publish(event.encoded(), exchange: Exchanges.orders, routingKey: EventType.orderPlaced.routingKey, properties: event.properties(appID: "e2e"))
        }
        try await connection.publish(sentinel.encoded(), exchange: Exchanges.orders, routingKey: EventType.orderPlaced.routingKey, properties: sentinel.properties(appID: "e2e"))
        await connection.close()

        try await eventually(.seconds(30), "the sentinel to be reserved") { try await stock("Salad").reserved == sentinelBefore.reserved + 1 }
        let after = try await stock("Burger")
        #expect(after.reserved == before.reserved + 3)
        #expect(after.available == before.available - 3)
    }

    @Test("three inventory replicas and 300 concurrent orders: each reserved once, stock exact")
    func threeReplicas() async throws {
        try await pipeline.run(inventoryReplicas: 3)
        try await waitUntilSettled()
        let before = try await stock("Taco")
        let ids = try await place(300, of: "Taco", concurrency: 32)
        #expect(Set(ids).count == 300)
        let orders = try await waitUntilNotified(ids, within: .seconds(120))
        #expect(orders.allSatisfy { $0["status"] as? String == "reserved" })
        let after = try await stock("Taco")
        #expect(after.available == before.available - 300)
        #expect(after.reserved == before.reserved + 300)
    }

    // MARK: Failures

    /// With three inventory replicas, places 200 orders of `item` and stops `replica` with
    /// `signal` after the 60th; every order must then be reserved exactly once. Returns the
    /// stopped replica's exit status.
    func placeWhileStopping(replica: Int, with signal: Int32, item: String) async throws -> Int32? {
        try await pipeline.run(inventoryReplicas: 3)
        try await waitUntilSettled()
        let before = try await stock(item)
        let pipeline = self.pipeline
        let status = StatusBox()
        let ids = try await place(200, of: item, concurrency: 16) { index in
            if index == 60 { status.set(await pipeline.stop(.inventory, replica: replica, signal: signal)) }
        }
        let orders = try await waitUntilNotified(ids, within: .seconds(120))
        #expect(orders.allSatisfy { $0["status"] as? String == "reserved" })
        let after = try await stock(item)
        #expect(after.available == before.available - 200)
        #expect(after.reserved == before.reserved + 200)
        return status.value
    }

    @Test("kill -9 of an inventory replica mid-stream loses nothing and doubles nothing")
    func killedReplica() async throws {
        _ = try await placeWhileStopping(replica: 2, with: SIGKILL, item: "Sushi")
    }

    @Test("SIGTERM on a worker under load: it drains and exits cleanly, and nothing takes effect twice")
    func gracefulShutdownUnderLoad() async throws {
        let status = try await placeWhileStopping(replica: 1, with: SIGTERM, item: "Pizza")
        #expect(status == 0, "the worker did not exit cleanly")
    }

    @Test("orders accepted while every inventory worker is stopped are all processed once one starts")
    func workersStopped() async throws {
        try await pipeline.run(inventoryReplicas: 0)
        let ids = try await place(50, of: "Burger")
        for id in ids { #expect(try await order(id)["status"] as? String == "accepted") }
        try await pipeline.run(inventoryReplicas: 1)
        let orders = try await waitUntilNotified(ids)
        #expect(orders.allSatisfy { $0["status"] as? String == "reserved" })
    }

    @Test("the broker's connections closed and the broker restarted while orders come in: every accepted order is processed")
    func brokerRestart() async throws {
        try await pipeline.run()
        var ids = try await place(30, of: "Salad")
        try Pipeline.infra("ctl", "close_all_connections", "e2e: connections closed")
        ids += try await place(30, of: "Salad")
        try Pipeline.infra("stop", "rabbitmq")
        ids += try await place(30, of: "Salad")  // the API still accepts: the orders wait in the outbox
        try Pipeline.infra("start", "rabbitmq")
        ids += try await place(30, of: "Salad")
        let orders = try await waitUntilNotified(ids, within: .seconds(120))
        #expect(orders.count == 120)
        #expect(orders.allSatisfy { $0["status"] as? String == "reserved" })
        for service in [Pipeline.Service.orderAPI, .inventory, .notification] {
            #expect(Self.sample("amqp_reconnects_total", in: try await Self.metrics(service)) ?? 0 >= 1, "\(service) counted its reconnects")
        }
    }

    @Test("with PostgreSQL stopped the API answers 503 and takes no order; it recovers when PostgreSQL returns")
    func databaseDown() async throws {
        try await pipeline.run()
        try Pipeline.infra("stop", "postgres")
        let refused = try await HTTP.post("\(api)/orders", body: #"{"user_id":"u","item":"Pizza"}"#)
        #expect(refused.status == 503)
        #expect(refused.headers["Retry-After"].first != nil)
        let ready = try await HTTP.get("\(api)/ready")
        #expect(ready.status == 503)
        #expect((ready.json["down"] as? [String]) == ["postgres"])
        try Pipeline.infra("start", "postgres")

        let api = self.api
        let id = try await within(.seconds(60), "the API to take orders again") {
            while true {
                let response = try await HTTP.post("\(api)/orders", body: #"{"user_id":"u","item":"Pizza"}"#)
                if response.status == 202, let id = response.string("order_id") { return id }
                #expect(response.status == 503, "while recovering the API answered \(response.status)")
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        let orders = try await waitUntilNotified([id])
        #expect(orders.first?["status"] as? String == "reserved")
    }
}

/// Records webhook POSTs; refuses the first `failFirst` of them with a 500.
final class WebhookReceiver: Sendable {
    private struct State {
        var bodies: [Data] = []
        var failuresLeft: Int
    }

    private let state: Mutex<State>

    init(failFirst: Int) { state = Mutex(State(failuresLeft: failFirst)) }

    /// Records the body; false when this one is to be refused.
    func receive(_ body: Data) -> Bool {
        state.withLock { state in
            state.bodies.append(body)
            guard state.failuresLeft > 0 else { return true }
            state.failuresLeft -= 1
            return false
        }
    }

    var bodies: [Data] { state.withLock { $0.bodies } }
}

/// An exit status handed from a task back to the test.
final class StatusBox: Sendable {
    private let status = Mutex<Int32?>(nil)
    func set(_ value: Int32?) { status.withLock { $0 = value } }
    var value: Int32? { status.withLock { $0 } }
}
