/// Wakes the service's own outbox relay, in the process, once a transaction that wrote
/// outbox rows has committed. The relay is not told through the database: a NOTIFY at every
/// commit costs a statement, a listening connection and a wake-up, and PostgreSQL serialises
/// the commits of notifying transactions behind one server-wide lock. A row whose writer
/// stopped before its relay took it is found by the relay's poll, in any replica.
public final class OutboxWakeUp: Sendable {
    let wakeups: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    public init() {
        (wakeups, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Outbox rows committed: the relay runs a pass soon (several calls may make one pass).
    public func committed() {
        continuation.yield()
    }
}
