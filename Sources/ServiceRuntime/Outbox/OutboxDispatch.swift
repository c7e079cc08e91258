/// Outbox rows on their way from the transaction that committed them to the service's own
/// relay, which publishes them straight from memory: no `NOTIFY`, no wake-up through the
/// database, no second read of the rows. Memory is only the fast path; the table is the truth.
/// A row that never gets here (its writer stopped after the commit), that waits beyond
/// `limit`, or whose publication fails, stays in the table, and the relay's sweep publishes
/// it later, in any replica. One relay reads it, for the life of the process.
public final class OutboxDispatch: Sendable {
    /// At most this many rows wait in memory; beyond it, new rows are left to the sweep.
    static let limit = 10_000

    private let rows = Handoff<Outbox.Stored>(capacity: limit)

    public init() {}

    /// Yields once rows wait.
    var ready: AsyncStream<Void> { rows.ready }

    /// Rows committed: the relay publishes them soon.
    public func committed(_ rows: [Outbox.Stored]) {
        self.rows.add(rows)
    }

    /// Up to `count` waiting rows, in the order they were committed.
    func take(upTo count: Int) -> [Outbox.Stored] {
        rows.take(upTo: count)
    }
}
