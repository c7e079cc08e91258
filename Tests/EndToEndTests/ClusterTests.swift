import Foundation
import NIOHTTP1
import PostgresNIO
import Synchronization
import TestSupport
import Testing

/// Beyond one machine: the real executables against a three-node RabbitMQ cluster, with two
/// order-api replicas behind HAProxy, while orders arrive at 100/s through the balancer and a
/// broker node or an API replica dies. Every order answered 202 must be reserved and notified
/// exactly once. Each test prints how long the pipeline paused.
@Suite("Beyond one machine: a broker cluster and API replicas under node loss", .serialized, .runsCluster)
struct ClusterTests {
    static let pipeline = Pipeline(
        brokerURL: Cluster.ports.map { "amqp://guest:guest@127.0.0.1:\($0)/test" }.joined(separator: ","),
        apiPorts: [18111, 18121]
    )
    /// The balancer before the two replicas, where the clients post.
    static let api = "http://127.0.0.1:18101"
    static let inventoryReplicas = 2
    static let rate = 100
    static let duration: Duration = .seconds(30)

    @Test("kill -9 of the broker node that leads order-events: nothing lost, nothing doubled")
    func leaderKilled() async throws {
        try await Self.killNode("leader-killed") { try await Cluster.leader(of: "order-events") }
    }

    @Test("kill -9 of the broker node that an order-api publishes through: nothing lost, nothing doubled")
    func publishingNodeKilled() async throws {
        try await Self.killNode("publisher-node-killed") { try await Cluster.node(ofConnection: "order-api (publishing)") }
    }

    /// Kills the node `pick` names under load, starts it again after the load, and checks.
    static func killNode(_ name: String, chosenBy pick: @escaping @Sendable () async throws -> Int) async throws {
        let outcome = try await underLoad(name) {
            let node = try await pick()
            try await Cluster.kill(node)
            return node
        }
        try await Cluster.restart(outcome.faultDetail)
        try await expectExactlyOnce(outcome)
    }

    @Test("a killed node started again under load rejoins, and every quorum queue has its replica there again")
    func nodeRejoins() async throws {
        let outcome = try await Self.underLoad("node-rejoins") {
            let node = Cluster.ports[2]
            try await Cluster.kill(node)
            try await Task.sleep(for: .seconds(10))
            try await Cluster.restart(node)
            return node
        }
        try await Self.expectExactlyOnce(outcome)
        try await eventually(.seconds(60), "every queue of the test vhost to have its member on node \(outcome.faultDetail) online") {
            try await Cluster.queuesMissingOnlineMember(on: outcome.faultDetail).isEmpty
        }
    }

    @Test("kill -9 of one order-api replica behind the balancer: only its requests in flight fail; nothing lost, nothing doubled")
    func apiReplicaKilled() async throws {
        let outcome = try await Self.underLoad("api-replica-killed", allowFailuresInFlight: true) {
            await Self.pipeline.stop(.orderAPI, replica: 1, signal: SIGKILL)
            return 1
        }
        try await Self.expectExactlyOnce(outcome)
        try await Self.pipeline.run(inventoryReplicas: Self.inventoryReplicas)
    }

    @Test("an order placed through one replica streams to a board on the other, and through the balancer")
    func boardAcrossReplicas() async throws {
        try await Cluster.infra("cluster", "start", "\(Cluster.ports.count)")
        try await Self.pipeline.run(inventoryReplicas: Self.inventoryReplicas)
        try await Self.balancerServesEveryReplica()
        let (first, second) = ("http://127.0.0.1:\(Self.pipeline.apiPorts[0])", "http://127.0.0.1:\(Self.pipeline.apiPorts[1])")
        let placed = try await HTTP.post("\(second)/orders", body: #"{"user_id":"cluster-board","item":"Sushi"}"#)
        let id = try #require(placed.string("order_id"))
        for board in [first, Self.api] {
            let events = try await HTTP.events("\(board)/board/events") { text in
                PipelineTests.boardOrders(text).contains { $0["order_id"] as? String == id && $0["notified_at"] is String }
            }
            #expect(PipelineTests.boardOrders(events).contains { $0["order_id"] as? String == id && $0["notified_at"] is String }, "\(board)")
        }
    }

    // MARK: Load and checks

    /// What a load run saw: every answer, when the fault struck and what it struck.
    struct LoadOutcome {
        let user: String
        let item: String
        let answers: [Answer]
        /// When the fault was struck, and when striking it returned (a process seen gone, say).
        let fault: ClosedRange<ContinuousClock.Instant>
        let faultDetail: Int
        let stockBefore: (available: Int, reserved: Int)
        let allowFailuresInFlight: Bool
    }

    struct Answer: Sendable {
        let sent: ContinuousClock.Instant
        let answered: ContinuousClock.Instant
        /// The HTTP status, or nil when the request failed without one (connection reset).
        let status: Int?
        let orderID: String?
        /// Why there was no status.
        let error: String?
    }

    /// Returns once the balancer sends requests to every order-api replica: its health checks
    /// find a replica that has just started only after a moment.
    static func balancerServesEveryReplica() async throws {
        try await eventually(.seconds(30), "the balancer to send requests to every order-api replica") {
            var servers = Set<String>()
            for _ in 0..<6 { servers.formUnion(try await HTTP.get("\(api)/health").headers["X-Served-By"]) }
            return servers.count == pipeline.apiPorts.count
        }
    }

    /// Posts orders of one user through the balancer at `rate` for `duration`, and strikes
    /// `fault` a third of the way in. Every node runs when it starts (whatever an earlier test left).
    static func underLoad(
        _ name: String, allowFailuresInFlight: Bool = false, fault: @escaping @Sendable () async throws -> Int
    ) async throws -> LoadOutcome {
        try await Cluster.infra("cluster", "start", "\(Cluster.ports.count)")
        try await pipeline.run(inventoryReplicas: inventoryReplicas)
        try await balancerServesEveryReplica()
        let user = "cluster-\(name)-\(UUID().uuidString.prefix(8))"
        let item = ["Burger", "Pizza", "Salad", "Taco"][abs(name.hashValue) % 4]
        try await settled()
        let before = try await stock(item)
        let clock = ContinuousClock()
        let start = clock.now
        let faultStrike = Task {
            try await clock.sleep(until: start + duration / 3)
            let struck = clock.now
            let detail = try await fault()
            return (struck...clock.now, detail)
        }
        let answers = await withTaskGroup(of: Answer.self) { group in
            let count = rate * Int(duration.components.seconds)
            for n in 0..<count {
                try? await clock.sleep(until: start + .seconds(Double(n) / Double(rate)))
                group.addTask {
                    let sent = clock.now
                    let body = #"{"user_id":"\#(user)","item":"\#(item)","quantity":1}"#
                    do {
                        let result = try await HTTP.post("\(api)/orders", body: body)
                        return Answer(sent: sent, answered: clock.now, status: result.status, orderID: result.status == 202 ? result.string("order_id") : nil, error: nil)
                    } catch {
                        return Answer(sent: sent, answered: clock.now, status: nil, orderID: nil, error: "\(error)")
                    }
                }
            }
            var answers: [Answer] = []
            for await answer in group { answers.append(answer) }
            return answers
        }
        let (faultTime, detail) = try await faultStrike.value
        return LoadOutcome(
            user: user, item: item, answers: answers, fault: faultTime, faultDetail: detail, stockBefore: before,
            allowFailuresInFlight: allowFailuresInFlight
        )
    }

    /// Every order answered 202 is reserved and notified once; every order the user has (an
    /// answer lost in flight may still have stored one) took stock once; no answer but 202 or
    /// 503, except requests in flight on a killed replica; no other process exited. Prints the pauses.
    static func expectExactlyOnce(_ outcome: LoadOutcome) async throws {
        let accepted = outcome.answers.compactMap(\.orderID)
        let failed = outcome.answers.filter { $0.status != 202 && $0.status != 503 }
        if outcome.allowFailuresInFlight {
            let notInFlight = failed.filter { !($0.sent <= outcome.fault.upperBound && $0.answered >= outcome.fault.lowerBound) }
            #expect(notInFlight.isEmpty, "\(notInFlight.count) requests not in flight at the kill answered \(notInFlight.map { "\($0.status.map(String.init) ?? $0.error ?? "?") sent \($0.sent - outcome.fault.lowerBound) after the kill, answered after \($0.answered - $0.sent)" })")
        } else {
            #expect(failed.isEmpty, "\(failed.count) answers neither 202 nor 503: \(failed.prefix(5).map { $0.status.map(String.init) ?? $0.error ?? "?" })")
        }
        #expect(accepted.count > outcome.answers.count * 9 / 10, "\(accepted.count) of \(outcome.answers.count) accepted")

        let user = outcome.user
        // Redelivered after a node's loss, a NotificationSent may be projected before its InventoryReserved.
        try await eventually(.seconds(120), "every order of \(user) to be reserved and notified") {
            try await Pipeline.withDatabase { client in
                let rows = try await client.query("select count(*) from order_api.orders where user_id = \(user) and (notified_at is null or status <> 'reserved')")
                for try await pending in rows.decode(Int.self) { return pending == 0 }
                return false
            }
        }
        let (orders, reserved, reservations, notifications, notifiedOrders, extraSteps) = try await Pipeline.withDatabase { client in
            let rows = try await client.query("""
                select (select count(*) from order_api.orders where user_id = \(user)),
                       (select count(*) from order_api.orders where user_id = \(user) and status = 'reserved'),
                       (select count(*) from inventory.reservations r join order_api.orders o using (order_id) where o.user_id = \(user)),
                       (select count(*) from notification.notifications where user_id = \(user)),
                       (select count(distinct order_id) from notification.notifications where user_id = \(user)),
                       (select count(*) from (select 1 from order_api.order_history h join order_api.orders o using (order_id)
                            where o.user_id = \(user) group by h.order_id, h.status having count(*) > 1) as repeated)
                """)
            for try await row in rows.decode((Int, Int, Int, Int, Int, Int).self) { return row }
            return (0, 0, 0, 0, 0, -1)
        }
        let stored = try await storedOrders(of: user)
        #expect(Set(accepted).isSubset(of: stored), "\(Set(accepted).subtracting(stored).count) orders answered 202 are not stored")
        #expect(orders >= accepted.count && reserved == orders, "\(reserved) of \(orders) orders reserved")
        #expect(reservations == orders, "\(reservations) reservations for \(orders) orders")
        #expect(notifications == orders && notifiedOrders == orders, "\(notifications) notifications for \(orders) orders")
        #expect(extraSteps == 0, "\(extraSteps) orders with a step of their history twice")
        let after = try await stock(outcome.item)
        #expect(after.available == outcome.stockBefore.available - orders, "stock taken: \(outcome.stockBefore.available - after.available) for \(orders) orders")
        #expect(after.reserved == outcome.stockBefore.reserved + orders)
        let exited = await pipeline.exited()
        #expect(exited.isEmpty, "service processes exited: \(exited)")

        let pauses = try await pauses(of: user, answers: outcome.answers)
        let refused = outcome.answers.filter { $0.status == 503 }.count
        let slowestAnswer = outcome.answers.map { $0.answered - $0.sent }.max() ?? .zero
        print("[cluster] \(user): \(accepted.count) accepted of \(outcome.answers.count) posted (\(refused) answered 503, \(failed.count) failed in flight), \(orders) stored, checked; slowest answer \(slowestAnswer); longest gap between 202 answers \(pauses.answers), between notifications \(pauses.notifications); slowest POST→notified \(pauses.slowest)")
    }

    /// The longest time without a 202 answer, and without a notification, while orders came
    /// in; and the slowest order from POST to notified.
    static func pauses(of user: String, answers: [Answer]) async throws -> (answers: Duration, notifications: Duration, slowest: Duration) {
        let answered = answers.filter { $0.status == 202 }.map(\.answered).sorted()
        let answerGap = zip(answered, answered.dropFirst()).map { $1 - $0 }.max() ?? .zero
        return try await Pipeline.withDatabase { client in
            let rows = try await client.query("""
                select coalesce(max(gap), 0)::float8, max(extract(epoch from notified_at - created_at))::float8 from (
                    select extract(epoch from notified_at - lag(notified_at) over (order by notified_at)) as gap, notified_at, created_at
                    from order_api.orders where user_id = \(user)) as gaps
                """)
            for try await (gap, slowest) in rows.decode((Double, Double).self) {
                return (answerGap, .milliseconds(Int(gap * 1000)), .milliseconds(Int(slowest * 1000)))
            }
            return (answerGap, .zero, .zero)
        }
    }

    static func storedOrders(of user: String) async throws -> Set<String> {
        try await Pipeline.withDatabase { client in
            var ids = Set<String>()
            for try await id in try await client.query("select order_id from order_api.orders where user_id = \(user)").decode(UUID.self) {
                ids.insert(id.uuidString.lowercased())
            }
            return ids
        }
    }

    static func stock(_ item: String) async throws -> (available: Int, reserved: Int) {
        try await Pipeline.withDatabase { client in
            for try await row in try await client.query("select available, reserved from inventory.stock where item = \(item)").decode((Int, Int).self) {
                return row
            }
            return (-1, -1)
        }
    }

    /// No order of an earlier test still on its way.
    static func settled() async throws {
        try await eventually(.seconds(120), "earlier orders to be notified") {
            try await Pipeline.withDatabase { client in
                for try await pending in try await client.query("select count(*) from order_api.orders where notified_at is null").decode(Int.self) {
                    return pending == 0
                }
                return false
            }
        }
    }
}

/// The test cluster: three RabbitMQ nodes on 5682, 5683, 5684 (`scripts/infra.sh cluster`),
/// apart from the single broker the other tests use, management API on port + 10000.
enum Cluster {
    static let ports = [5682, 5683, 5684]
    static let credentials = [("Authorization", "Basic " + Data("guest:guest".utf8).base64EncodedString())]

    static func infra(_ arguments: String...) async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["RABBITMQ_CLUSTER_PORT"] = "\(ports[0])"
        let outcome = try await runCommand(packageRoot.appending(path: "scripts/infra.sh").path, arguments, environment: environment, limit: .seconds(240))
        guard outcome.status == 0 else { throw InfraFailed(arguments: arguments) }
    }

    static func kill(_ port: Int) async throws { try await infra("cluster", "kill", "\(port)") }

    static func restart(_ port: Int) async throws { try await infra("cluster", "start-node", "\(port)") }

    /// A management API answer from whichever node answers.
    static func management(_ path: String) async throws -> Any {
        for port in ports {
            guard let response = try? await HTTP.get("http://127.0.0.1:\(port + 10000)/api/\(path)", headers: credentials, timeout: .seconds(5)),
                  response.status == 200
            else { continue }
            return try JSONSerialization.jsonObject(with: response.body)
        }
        throw TimedOut(what: "a node's management API to answer")
    }

    /// The AMQP port of a node, from its name (rabbit-5683@localhost).
    static func port(ofNode name: String) throws -> Int {
        try #require(Int(name.split(separator: "@")[0].split(separator: "-").last ?? ""), "node \(name)")
    }

    static func leader(of queue: String) async throws -> Int {
        let info = try #require(try await management("queues/test/\(queue)") as? [String: Any])
        return try port(ofNode: try #require(info["leader"] as? String, "\(queue) has no leader"))
    }

    /// The node a connection with this name is attached to.
    static func node(ofConnection name: String) async throws -> Int {
        let found = Mutex<Int?>(nil)
        try await eventually(.seconds(20), "a connection named '\(name)'") {
            let connections = try await management("connections") as? [[String: Any]] ?? []
            let match = connections.first { ($0["client_properties"] as? [String: Any])?["connection_name"] as? String == name }
            let port = try (match?["node"] as? String).map(port(ofNode:))
            found.withLock { $0 = port }
            return port != nil
        }
        return try #require(found.withLock { $0 })
    }

    /// The queues of the test vhost whose member on this node is not online.
    static func queuesMissingOnlineMember(on port: Int) async throws -> [String] {
        let node = "rabbit-\(port)@localhost"
        let queues = try await management("queues/test") as? [[String: Any]] ?? []
        return queues.filter { queue in
            guard queue["type"] as? String == "quorum" else { return false }
            return !((queue["members"] as? [String] ?? []).contains(node) && (queue["online"] as? [String] ?? []).contains(node))
        }.compactMap { $0["name"] as? String }
    }
}

/// The cluster and the balancer start before the suite and stop after it, whatever happened.
struct RunsCluster: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let balancer = packageRoot.appending(path: "scripts/balancer.sh").path
        var environment = ProcessInfo.processInfo.environment
        environment["BALANCER_STATE"] = packageRoot.appending(path: ".run/test-balancer").path
        func stop() async {
            await ClusterTests.pipeline.stopAll()
            _ = try? await runCommand(balancer, ["stop", "18101"], environment: environment)
            try? await Cluster.infra("cluster", "stop")
        }
        do {
            try await Cluster.infra("cluster", "start", "3")
            let started = try await runCommand(balancer, ["start", "18101", "18111", "18121"], environment: environment)
            guard started.status == 0 else { throw InfraFailed(arguments: ["balancer.sh start: \(started.errors)"]) }
            try await function()
        } catch {
            await stop()
            throw error
        }
        await stop()
    }
}

extension Trait where Self == RunsCluster {
    static var runsCluster: Self { Self() }
}
