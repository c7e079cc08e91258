@testable import ServiceRuntime
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

@Suite("A consumer's progress")
struct ConsumerProgressTests {
    @Test("a consumer holding deliveries and settling none for longer than the limit is stalled; one that holds none, or settles, is not")
    func stalls() async throws {
        let progress = ConsumerProgress()
        #expect(progress.stalledFor(longerThan: .zero) == nil, "holding nothing is never stalled")
        progress.took()
        progress.took()
        try await Task.sleep(for: .milliseconds(20))
        let stalled = try #require(progress.stalledFor(longerThan: .milliseconds(10)))
        #expect(stalled.held == 2)
        #expect(stalled.idle >= .milliseconds(20))
        #expect(progress.stalledFor(longerThan: .seconds(60)) == nil)
        progress.settled()  // settling one is progress, though one is still held
        #expect(progress.stalledFor(longerThan: .milliseconds(10)) == nil)
        progress.settled()
        try await Task.sleep(for: .milliseconds(20))
        #expect(progress.stalledFor(longerThan: .milliseconds(10)) == nil)
    }
}
