import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport

/// A response, with its body parsed as JSON where it is JSON.
struct HTTPResult: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }

    func string(_ key: String) -> String? { json[key] as? String }
}

enum HTTP {
    /// Keeps an idle connection 5 s at most, below the balancer's `timeout http-keep-alive`
    /// (10 s): a request sent on a connection the balancer is closing that same moment fails
    /// with "I/O on closed channel", and the shared client keeps idle connections 60 s.
    /// Opens up to 64 connections to a host, as the benchmark's closed loop does: the node-loss
    /// tests post 100 orders a second whatever the answers take, and with the client's default
    /// of 8 a request waited for a free connection as soon as answers took over 80 ms, on a slow
    /// machine until the pool gave up after 10 s (`getConnectionFromPoolTimeout`), a failure of
    /// the test's client that the system never saw.
    private static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(connectionPool: .init(idleTimeout: .seconds(5), concurrentHTTP1ConnectionsPerHostSoftLimit: 64))
    )

    static func get(_ url: String, headers: [(String, String)] = [], timeout: TimeAmount = .seconds(30)) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await send(request, timeout: timeout)
    }

    static func post(_ url: String, body: String, headers: [(String, String)] = [("Content-Type", "application/json")]) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        return try await send(request, timeout: .seconds(30))
    }

    /// Reads a Server-Sent Event stream until `done` holds for what arrived so far (at most
    /// 60 s), then closes it; returns the text.
    static func events(_ url: String, until done: @escaping @Sendable (String) -> Bool) async throws -> String {
        try await within(.seconds(60), "\(url) to send what the test waits for") {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
            var text = ""
            for try await chunk in response.body {
                text += String(buffer: chunk)
                if done(text) { return text }
            }
            return text
        }
    }

    private static func send(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPResult {
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return HTTPResult(status: Int(response.status.code), headers: response.headers, body: Data(body.readableBytesView))
    }
}
