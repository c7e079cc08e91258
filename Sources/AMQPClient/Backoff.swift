/// Capped exponential backoff with jitter: attempt n waits a random time between half and
/// all of `min(maximum, initial · 2ⁿ)`, so many clients that lost the broker together do not
/// come back in lockstep.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(200), maximum: Duration = .seconds(10)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before retry number `attempt` (0 for the first retry).
    public func delay(forAttempt attempt: Int) -> Duration {
        let ceiling = min(maximum, initial * Double(1 << min(attempt, 30)))
        return ceiling * Double.random(in: 0.5...1.0)
    }
}
