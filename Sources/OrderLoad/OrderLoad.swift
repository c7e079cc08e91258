import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The benchmark's open-loop load generator: POSTs orders to order-api at a fixed rate
/// (`open`), whether or not earlier ones were answered, and prints one JSON object with what
/// happened. Latency is measured from when a request was due, so a slow server cannot hide
/// its queueing (no coordinated omission). The closed loop is wrk (`bench/post-orders.lua`),
/// which costs the shared cores far less per request.
@main
struct OrderLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-load",
        abstract: "Open-loop load for order-api (open); prints one JSON object.",
        subcommands: [Open.self]
    )
}

struct Target: ParsableArguments {
    @Option(help: "The order-api base URL.")
    var url = "http://127.0.0.1:8101"

    @Option(help: "How long to send, in seconds.")
    var duration: Double = 10

    static let items = ["Burger", "Pizza", "Salad", "Taco", "Sushi"]

    func request(_ number: Int) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url + "/orders")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body = #"{"user_id":"bench-\#(number % 1000)","item":"\#(Self.items[number % Self.items.count])","quantity":1}"#
        request.body = .bytes(ByteBuffer(string: body))
        return request
    }
}

/// What the requests of a run came to.
final class Tally: Sendable {
    private struct State {
        var latencies: [Double] = []
        var statuses: [Int: Int] = [:]
        var errors = 0
    }

    private let state = Mutex(State())

    /// Sends one order and records its latency (from `due`) and status.
    func send(_ request: HTTPClientRequest, due: ContinuousClock.Instant, client: HTTPClient) async {
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            let latency = Self.milliseconds(ContinuousClock.now - due)
            state.withLock {
                $0.latencies.append(latency)
                $0.statuses[Int(response.status.code), default: 0] += 1
            }
        } catch {
            state.withLock { $0.errors += 1 }
        }
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    func report(_ fields: [String: Any], elapsed: Duration) -> String {
        state.withLock { state in
            let sorted = state.latencies.sorted()
            func percentile(_ p: Double) -> Double {
                sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
            }
            let accepted = state.statuses[202, default: 0]
            var report = fields
            report["requests"] = sorted.count + state.errors
            report["accepted"] = accepted
            report["not_accepted"] = Dictionary(uniqueKeysWithValues: state.statuses.filter { $0.key != 202 }.map { ("\($0.key)", $0.value) })
            report["errors"] = state.errors
            report["elapsed_s"] = Self.milliseconds(elapsed) / 1000
            report["accepted_per_s"] = Double(accepted) / (Self.milliseconds(elapsed) / 1000)
            for (name, p) in [("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99), ("max_ms", 1.0)] { report[name] = percentile(p) }
            let data = (try? JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }
}

func makeClient(connections: Int) -> HTTPClient {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}

struct Open: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Open loop: orders are due at a fixed rate whether or not earlier ones were answered.")

    @OptionGroup var target: Target

    @Option(help: "Orders per second.")
    var rate: Double = 1000

    @Option(help: "At most this many connections.")
    var connections = 256

    func run() async throws {
        let client = makeClient(connections: connections)
        let tally = Tally()
        let total = Int(rate * target.duration)
        let interval = 1.0 / rate
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for number in 0..<total {
                let due = start + .milliseconds(Int64(Double(number) * interval * 1000))
                if due > .now { try? await Task.sleep(until: due) }
                group.addTask { await tally.send(target.request(number), due: due, client: client) }
            }
        }
        let elapsed = ContinuousClock.now - start
        try await client.shutdown()
        print(tally.report(["mode": "open", "offered_per_s": rate], elapsed: elapsed))
    }
}
