import Synchronization

public struct TimeoutError: Error, CustomStringConvertible {
    public init() {}

    public var description: String { "timed out" }
}

/// Runs `body`, and throws `TimeoutError` when `limit` passes first. The answer comes at the
/// limit (give or take `TimeLimits.tick`) even if `body` does not respond to cancellation (a
/// request waiting in a connection pool, say): `body` is cancelled and left to finish on its
/// own, and what it returns then is dropped. Cancelling the caller cancels `body` and throws
/// `CancellationError` at once.
public func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = Race<T>()
    let watched = TimeLimits.shared.watch(until: .now + limit) { race.finish(with: .failure(TimeoutError())) }
    defer { TimeLimits.shared.forget(watched) }
    return try await withTaskCancellationHandler {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
            let work = Task<Void, Never> {
                do {
                    race.finish(with: .success(try await body()))
                } catch {
                    race.finish(with: .failure(error))
                }
            }
            race.start(continuation, cancelling: work)
        }
    } onCancel: {
        race.finish(with: .failure(CancellationError()))
    }
}

/// The first of several outcomes resumes the waiting caller and cancels the work still running.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: UnsafeContinuation<T, any Error>?
        var work: Task<Void, Never>?
        var outcome: Result<T, any Error>?
    }

    private let state = Mutex(State())

    func start(_ continuation: UnsafeContinuation<T, any Error>, cancelling work: Task<Void, Never>) {
        let decided: Result<T, any Error>? = state.withLock { state in
            if let outcome = state.outcome { return outcome }
            state.continuation = continuation
            state.work = work
            return nil
        }
        if let decided {
            work.cancel()
            continuation.resume(with: decided)
        }
    }

    func finish(with outcome: Result<T, any Error>) {
        let (continuation, work): (UnsafeContinuation<T, any Error>?, Task<Void, Never>?) = state.withLock { state in
            guard state.outcome == nil else { return (nil, nil) }
            state.outcome = outcome
            defer { state.continuation = nil; state.work = nil }
            return (state.continuation, state.work)
        }
        work?.cancel()
        continuation?.resume(with: outcome)
    }
}

/// The time limits of `withTimeout`, all watched by one task that looks every `tick` while
/// any is set. A timer per call (a sleeping task) cost the busy paths a thread wake-up when
/// it was cancelled and another when its time came: about one and a half context switches
/// per stored order at 500 orders/s, each a few dozen microseconds of CPU here.
final class TimeLimits: Sendable {
    static let shared = TimeLimits()
    static let tick: Duration = .milliseconds(50)

    private struct Limit {
        let deadline: ContinuousClock.Instant
        let expire: @Sendable () -> Void
    }

    private struct State {
        var limits: [UInt64: Limit] = [:]
        var nextID: UInt64 = 0
        var watching = false
    }

    private let state = Mutex(State())

    /// Calls `expire` once `deadline` has passed, unless it is forgotten first.
    func watch(until deadline: ContinuousClock.Instant, _ expire: @escaping @Sendable () -> Void) -> UInt64 {
        let (id, startsWatcher) = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.limits[id] = Limit(deadline: deadline, expire: expire)
            defer { state.watching = true }
            return (id, !state.watching)
        }
        // Detached: the watcher serves every caller, and keeps none's priority or task locals.
        if startsWatcher { Task.detached { await self.watchWhileAnySet() } }
        return id
    }

    func forget(_ id: UInt64) {
        _ = state.withLock { $0.limits.removeValue(forKey: id) }
    }

    private func watchWhileAnySet() async {
        while true {
            try? await Task.sleep(for: Self.tick)
            let now = ContinuousClock.now
            let (expired, anyLeft): ([Limit], Bool) = state.withLock { state in
                let expired = state.limits.filter { $0.value.deadline <= now }
                for id in expired.keys { state.limits[id] = nil }
                state.watching = !state.limits.isEmpty
                return (Array(expired.values), state.watching)
            }
            for limit in expired { limit.expire() }
            guard anyLeft else { return }
        }
    }
}
