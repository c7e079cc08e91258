import Glibc
import OrderEvents

/// Faults a service injects on purpose, to show and test the failure paths; all off unless
/// set. Never set them in production.
public struct FaultInjection: Sendable {
    /// `FAULT_FAILURE_RATE`: the share (0 to 1) of handling attempts that fail as if a
    /// dependency had timed out, so the message goes through the retry queues.
    public let failureRate: Double
    /// `FAULT_CRASH_ITEM`: the process kills itself (SIGKILL, like the OOM killer) when it
    /// handles an event about this item, before acknowledging it.
    public let crashItem: String?

    public init(environment: EnvironmentVariables) throws(ConfigurationError) {
        failureRate = try environment.fraction("FAULT_FAILURE_RATE", default: 0)
        crashItem = environment.string("FAULT_CRASH_ITEM")
    }

    /// An injected transient failure.
    public struct InjectedFailure: Error, CustomStringConvertible {
        public var description: String { "injected failure (FAULT_FAILURE_RATE)" }
    }

    /// Crashes or fails as configured; does nothing otherwise.
    func inject(into event: OrderEvent) throws(InjectedFailure) {
        if let crashItem, event.item == crashItem { kill(getpid(), SIGKILL) }
        if failureRate > 0, Double.random(in: 0..<1) < failureRate { throw InjectedFailure() }
    }
}
