import Synchronization

/// How many deliveries a consumer holds, and when it last settled one: what tells a stalled
/// consumer from a busy one.
final class ConsumerProgress: Sendable {
    private struct State {
        var held = 0
        var lastSettled = ContinuousClock.now
    }

    private let state = Mutex(State())

    func took() {
        state.withLock { state in
            if state.held == 0 { state.lastSettled = .now }
            state.held += 1
        }
    }

    func settled() {
        state.withLock { state in
            state.held -= 1
            state.lastSettled = .now
        }
    }

    /// How many it holds and for how long it has settled none, when that is longer than `limit`.
    func stalledFor(longerThan limit: Duration) -> (held: Int, idle: Duration)? {
        state.withLock { state in
            let idle = ContinuousClock.now - state.lastSettled
            return state.held > 0 && idle > limit ? (state.held, idle) : nil
        }
    }
}
