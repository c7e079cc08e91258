public import OrderEvents
import Synchronization

/// The events a consumer's transaction emits: its handlers add them as they go, and the
/// runtime writes them all to the outbox with one statement before the commit. What must
/// happen only once the transaction has committed (counting an effect in a metric) waits
/// here too.
public final class PendingOutbox: Sendable {
    private let rows = Mutex<[Outbox.Row]>([])
    private let commitActions = Mutex<[@Sendable () -> Void]>([])

    /// Emits `event` when the transaction commits, continuing the trace of the event that
    /// caused it.
    public func add<P: EventPayload>(_ event: Event<P>, causedBy cause: PendingEvent) {
        let row = Outbox.Entry(event, traceparent: TraceParent.value(of: cause.context)).row
        rows.withLock { $0.append(row) }
    }

    /// Runs `action` after the transaction commits, and never if it does not.
    public func afterCommit(_ action: @escaping @Sendable () -> Void) {
        commitActions.withLock { $0.append(action) }
    }

    /// What was added, in order; empties the buffer.
    func take() -> [Outbox.Row] {
        rows.withLock { rows in
            defer { rows = [] }
            return rows
        }
    }

    /// Runs the actions that waited for the commit.
    func committed() {
        for action in commitActions.withLock({ $0 }) { action() }
    }
}
