import AMQPClient
import Logging
import PostgresNIO
import Synchronization

/// Whether the database that every event needs takes its writes, as a consumer sees it. When
/// a transaction fails, the consumer asks (`isDown`, one query: does the database answer, and
/// is it writable, not a standby nor read-only); while it is not, deliveries wait in
/// `waitUntilBack` instead of failing, so an outage costs no message an attempt, and new
/// deliveries wait there before they start. One probe, with backoff, tells them all when it
/// takes writes again. `/ready` shows the pause under `part`.
final class DatabaseAvailability: Sendable {
    private struct State {
        var down = false
        var since = ContinuousClock.now
    }

    private let database: PostgresClient
    private let health: ServiceHealth
    private let part: String
    private let logger: Logger
    private let state = Mutex(State())

    init(database: PostgresClient, health: ServiceHealth, part: String, logger: Logger) {
        self.database = database
        self.health = health
        self.part = part
        self.logger = logger
    }

    /// Whether the consumer is paused for the database now.
    var isPaused: Bool { state.withLock { $0.down } }

    /// Asks the database; when it does not answer or takes no writes, the pause starts (if it
    /// had not).
    func isDown() async -> Bool {
        if isPaused { return true }
        guard await !database.takesWrites() else { return false }
        let starts = state.withLock { state -> Bool in
            guard !state.down else { return false }
            state.down = true
            state.since = .now
            return true
        }
        if starts {
            logger.warning("the database is unreachable or read-only: consuming is paused until it takes writes again", metadata: ["part": "\(part)"])
            health.report(part, ServiceHealth.Condition("paused: the database is unreachable or read-only; deliveries wait, and no attempt is counted against them", makesUnready: false))
            Task { await probeUntilBack() }
        }
        return true
    }

    /// Returns once the database takes writes again (at once when the consumer is not paused), or
    /// when the task is cancelled.
    func waitUntilBack() async {
        while isPaused, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    private func probeUntilBack() async {
        let backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(2))
        var attempt = 0
        while await !database.takesWrites() {
            try? await Task.sleep(for: backoff.delay(forAttempt: attempt))
            attempt += 1
        }
        let since = state.withLock { state in
            state.down = false
            return state.since
        }
        health.report(part, nil)
        logger.info("the database takes writes again: consuming resumes", metadata: ["part": "\(part)", "paused_for": "\(ContinuousClock.now - since)"])
    }
}
