import Synchronization

/// The outbox rows whose events the broker confirmed, waiting to be deleted together. `due`
/// yields once rows wait, so that the relay's deleter sleeps while nothing is published.
final class ConfirmedRows: Sendable {
    let due: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation
    private let ids = Mutex<[Int64]>([])

    init() {
        (due, signal) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Rows confirmed, or rows a delete failed to remove, which wait for the next one.
    func add(_ confirmed: [Int64]) {
        guard !confirmed.isEmpty else { return }
        ids.withLock { $0.append(contentsOf: confirmed) }
        signal.yield()
    }

    /// Every row waiting, which the caller deletes (or gives back with `add`).
    func take() -> [Int64] {
        ids.withLock { ids in
            defer { ids = [] }
            return ids
        }
    }
}
