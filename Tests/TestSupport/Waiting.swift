import ServiceRuntime

public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "timed out waiting for \(what)" }

    public init(what: String) { self.what = what }
}

/// Runs `body` and fails with `TimedOut` naming `what` if it has not finished within `limit`.
public func within<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    do {
        return try await withTimeout(limit, body)
    } catch is TimeoutError {
        throw TimedOut(what: what)
    }
}

/// Waits until `condition` holds, checking every 100 ms, for at most `limit`.
public func eventually(_ limit: Duration, _ what: String, _ condition: @escaping @Sendable () async throws -> Bool) async throws {
    try await within(limit, what) {
        while try await !condition() {
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
