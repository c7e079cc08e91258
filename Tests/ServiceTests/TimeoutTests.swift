import ServiceRuntime
import Synchronization
import Testing

@Suite("withTimeout")
struct TimeoutTests {
    /// Ignores cancellation until `release` is called, as a request waiting in a pool may.
    final class Stubborn: Sendable {
        private let released = Mutex(false)
        func release() { released.withLock { $0 = true } }
        func wait() async {
            while !released.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(10)) }
        }
    }

    @Test("a body that ignores cancellation is abandoned at the limit, not waited for")
    func abandonsStubbornBody() async throws {
        let stubborn = Stubborn()
        defer { stubborn.release() }
        let started = ContinuousClock.now
        await #expect(throws: TimeoutError.self) {
            try await withTimeout(.milliseconds(100)) { await stubborn.wait() }
        }
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test("a body that finishes in time gives its value; one that throws gives its error")
    func passesOutcomeThrough() async throws {
        #expect(try await withTimeout(.seconds(5)) { 42 } == 42)
        struct Failed: Error {}
        await #expect(throws: Failed.self) { try await withTimeout(.seconds(5)) { throw Failed() } }
    }

    @Test("cancelling the caller ends the wait at once")
    func cancellationEndsTheWait() async throws {
        let stubborn = Stubborn()
        defer { stubborn.release() }
        let task = Task { try await withTimeout(.seconds(60)) { await stubborn.wait() } }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}
