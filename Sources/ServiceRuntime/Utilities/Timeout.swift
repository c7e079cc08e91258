import Synchronization

public struct TimeoutError: Error, CustomStringConvertible {
    public init() {}

    public var description: String { "timed out" }
}

/// Runs `body`, and throws `TimeoutError` when `limit` passes first. The answer comes at the
/// limit even if `body` does not respond to cancellation (a request waiting in a connection
/// pool, say): `body` is cancelled and left to finish on its own, and what it returns then
/// is dropped. Cancelling the caller cancels `body` and throws `CancellationError` at once.
public func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
            let work = Task<Void, any Error> {
                do {
                    let value = try await body()
                    race.finish(with: .success(value))
                } catch {
                    race.finish(with: .failure(error))
                }
            }
            let timer = Task<Void, any Error> {
                try await Task.sleep(for: limit)
                race.finish(with: .failure(TimeoutError()))
            }
            race.start(continuation, cancelling: [work, timer])
        }
    } onCancel: {
        race.finish(with: .failure(CancellationError()))
    }
}

/// The first of several outcomes resumes the waiting caller and cancels the tasks still running.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: UnsafeContinuation<T, any Error>?
        var tasks: [Task<Void, any Error>] = []
        var outcome: Result<T, any Error>?
    }

    private let state = Mutex(State())

    func start(_ continuation: UnsafeContinuation<T, any Error>, cancelling tasks: [Task<Void, any Error>]) {
        let decided: Result<T, any Error>? = state.withLock { state in
            if let outcome = state.outcome { return outcome }
            state.continuation = continuation
            state.tasks = tasks
            return nil
        }
        if let decided {
            for task in tasks { task.cancel() }
            continuation.resume(with: decided)
        }
    }

    func finish(with outcome: Result<T, any Error>) {
        let (continuation, tasks): (UnsafeContinuation<T, any Error>?, [Task<Void, any Error>]) = state.withLock { state in
            guard state.outcome == nil else { return (nil, []) }
            state.outcome = outcome
            defer { state.continuation = nil; state.tasks = [] }
            return (state.continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(with: outcome)
    }
}
