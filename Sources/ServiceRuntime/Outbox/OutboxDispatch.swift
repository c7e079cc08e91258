import Synchronization

/// Outbox rows on their way from the transaction that committed them to the service's own
/// relay, which publishes them straight from memory: no `NOTIFY`, no wake-up through the
/// database, no second read of the rows. Memory is only the fast path; the table is the truth.
/// A row that never gets here (its writer stopped after the commit), that waits beyond
/// `limit`, or whose publication fails, stays in the table, and the relay's sweep publishes
/// it later, in any replica. One relay reads it, for the life of the process.
public final class OutboxDispatch: Sendable {
    /// At most this many rows wait in memory; beyond it, new rows are left to the sweep.
    static let limit = 10_000

    let ready: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let waiting = Mutex<[Outbox.Stored]>([])

    public init() {
        (ready, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Rows committed: the relay publishes them soon.
    public func committed(_ rows: [Outbox.Stored]) {
        guard !rows.isEmpty else { return }
        waiting.withLock { waiting in
            waiting.append(contentsOf: rows.prefix(max(0, Self.limit - waiting.count)))
        }
        continuation.yield()
    }

    /// Up to `count` waiting rows, in the order they were committed.
    func take(upTo count: Int) -> [Outbox.Stored] {
        waiting.withLock { waiting in
            let taken = Array(waiting.prefix(count))
            waiting.removeFirst(taken.count)
            return taken
        }
    }
}
