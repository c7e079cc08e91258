import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The benchmark's open-loop load generator: POSTs orders to order-api at a fixed rate
/// (`open`), whether or not earlier ones were answered, and prints one JSON object with what
/// happened. Latency is measured from when a request was due, so a slow server cannot hide
/// its queueing (no coordinated omission). It shares the machine with what it measures, so it
/// is plain NIO on one thread: connections kept alive, one request at a time on each, a new
/// one opened only when all are busy. The closed loop is wrk (`bench/post-orders.lua`).
@main
struct OrderLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-load",
        abstract: "Open-loop load for order-api (open); prints one JSON object.",
        subcommands: [Open.self]
    )
}

struct Open: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Open loop: orders are due at a fixed rate whether or not earlier ones were answered.")

    @Option(help: "The order-api base URL (http://host:port).")
    var url = "http://127.0.0.1:8101"

    @Option(help: "How long to send, in seconds.")
    var duration: Double = 10

    @Option(help: "Orders per second.")
    var rate: Double = 1000

    @Option(help: "At most this many connections.")
    var connections = 256

    func validate() throws {
        guard let components = URLComponents(string: url), components.scheme == "http", components.host != nil else {
            throw ValidationError("--url must be http://host:port, not '\(url)'")
        }
        guard rate > 0, duration > 0, connections > 0 else { throw ValidationError("--rate, --duration and --connections must be positive") }
    }

    func run() throws {
        let components = URLComponents(string: url)!
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let load = OpenLoop(
            loop: group.next(), host: components.host!, port: components.port ?? 80,
            total: Int(rate * duration), interval: 1 / rate, maximumConnections: connections
        )
        let elapsed = try load.loop.flatSubmit { load.start() }.wait()
        print(load.tally.report(["mode": "open", "offered_per_s": rate], elapsed: elapsed))
    }
}

/// What the requests of a run came to. Used on the load's event loop only.
final class Tally {
    private var latencies: [Double] = []
    private var statuses: [Int: Int] = [:]
    private(set) var errors = 0

    func answered(_ status: Int, latency: Double) {
        latencies.append(latency)
        statuses[status, default: 0] += 1
    }

    func failed() { errors += 1 }

    func report(_ fields: [String: Any], elapsed: Double) -> String {
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
        }
        let accepted = statuses[202, default: 0]
        var report = fields
        report["requests"] = sorted.count + errors
        report["accepted"] = accepted
        report["not_accepted"] = Dictionary(uniqueKeysWithValues: statuses.filter { $0.key != 202 }.map { ("\($0.key)", $0.value) })
        report["errors"] = errors
        report["elapsed_s"] = elapsed
        report["accepted_per_s"] = Double(accepted) / elapsed
        for (name, p) in [("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99), ("max_ms", 1.0)] { report[name] = percentile(p) }
        let data = (try? JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// The run: request `n` is due `n × interval` after the start and goes out on an idle
/// connection, on a new one while there are fewer than `maximumConnections`, or else as soon
/// as one is free. Everything happens on `loop`, so nothing here needs a lock.
final class OpenLoop: @unchecked Sendable {
    let loop: any EventLoop
    let tally = Tally()
    private let host: String
    private let port: Int
    private let total: Int
    private let interval: Double
    private let maximumConnections: Int
    private var started = NIODeadline.now()
    private var next = 0
    private var settled = 0
    private var idle: [any Channel] = []
    private var connections = 0
    private var waiting: [(number: Int, due: NIODeadline)] = []
    private var waitingFrom = 0
    private var finished: EventLoopPromise<Double>?

    init(loop: any EventLoop, host: String, port: Int, total: Int, interval: Double, maximumConnections: Int) {
        self.loop = loop
        self.host = host
        self.port = port
        self.total = total
        self.interval = interval
        self.maximumConnections = maximumConnections
    }

    /// Runs the load; succeeds with the seconds from the first request due to the last answer.
    func start() -> EventLoopFuture<Double> {
        let promise = loop.makePromise(of: Double.self)
        finished = promise
        started = .now()
        sendDue()
        return promise.futureResult
    }

    private func due(_ number: Int) -> NIODeadline {
        started + .nanoseconds(Int64(Double(number) * interval * 1e9))
    }

    /// Sends every request due by now, then sleeps until the next one is.
    private func sendDue() {
        let now = NIODeadline.now()
        while next < total, due(next) <= now {
            send(next, due: due(next))
            next += 1
        }
        if next < total { loop.scheduleTask(deadline: due(next)) { self.sendDue() } }
    }

    private func send(_ number: Int, due: NIODeadline) {
        if let channel = idle.popLast() {
            write(number, due: due, on: channel)
            return
        }
        waiting.append((number, due))
        if connections < maximumConnections { connect() }
    }

    private func connect() {
        connections += 1
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(Exchange(load: self))
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .success(let channel): self.free(channel)
                case .failure: self.lost(nil)
                }
            }
    }

    private func write(_ number: Int, due: NIODeadline, on channel: any Channel) {
        let items = ["Burger", "Pizza", "Salad", "Taco", "Sushi"]
        let body = ByteBuffer(string: #"{"user_id":"bench-\#(number % 1000)","item":"\#(items[number % items.count])","quantity":1}"#)
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/orders", headers: [
            "Host": "\(host):\(port)", "Content-Type": "application/json", "Content-Length": "\(body.readableBytes)",
        ])
        guard let exchange = try? channel.pipeline.syncOperations.handler(type: Exchange.self) else {
            tally.failed()  // the connection is going away already
            settle()
            return
        }
        exchange.due = due
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        // Unanswered after `timeout`: the connection is closed, and the request counts as an error.
        let answering = NIOLoopBound(exchange, eventLoop: loop)
        loop.scheduleTask(in: Self.timeout) { if answering.value.due == due { channel.close(promise: nil) } }
    }

    /// How long a request may wait for its answer, as wrk's `--timeout` in the closed loop.
    static let timeout: TimeAmount = .seconds(30)

    /// `channel` answered its request (or has just connected): it takes the next waiting one.
    fileprivate func free(_ channel: any Channel) {
        if waitingFrom < waiting.count {
            let (number, due) = waiting[waitingFrom]
            waitingFrom += 1
            write(number, due: due, on: channel)
        } else {
            idle.append(channel)
        }
    }

    fileprivate func answered(_ status: Int, due: NIODeadline, on channel: any Channel) {
        tally.answered(status, latency: Double((NIODeadline.now() - due).nanoseconds) / 1e6)
        settle()
        free(channel)
    }

    /// A connection failed or closed, with a request in flight (`due`) or not.
    fileprivate func lost(_ channel: (any Channel)?, inFlight due: NIODeadline? = nil) {
        connections -= 1
        if let channel { idle.removeAll { $0 === channel } }
        if due != nil {
            tally.failed()
            settle()
        } else if channel == nil, waitingFrom < waiting.count {
            // A connection could not be made: the request it was for fails.
            waitingFrom += 1
            tally.failed()
            settle()
        }
        // Requests still waiting get a connection of their own again, so none waits for ever.
        if waitingFrom < waiting.count, connections < maximumConnections { connect() }
    }

    private func settle() {
        settled += 1
        if settled == total {
            finished?.succeed(Double((NIODeadline.now() - started).nanoseconds) / 1e9)
            finished = nil
            for channel in idle { channel.close(promise: nil) }
        }
    }
}

/// One connection's request and answer.
private final class Exchange: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let load: OpenLoop
    var due: NIODeadline?
    private var status = 0

    init(load: OpenLoop) { self.load = load }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body: break
        case .end:
            guard let due else { return }
            self.due = nil
            load.answered(status, due: due, on: context.channel)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        load.lost(context.channel, inFlight: due)
        due = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
