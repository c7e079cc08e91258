import Synchronization

/// What a service's own parts say about their state, for `/ready`: the outbox relay holding
/// events the broker cannot route, a consumer paused while the database is away or stalled on
/// what it holds, publishing blocked by a broker alarm. A condition that stops the service
/// from doing its work makes it unready; the others are shown, so an operator reads why.
public final class ServiceHealth: Sendable {
    public struct Condition: Sendable, Hashable {
        public let detail: String
        /// Whether `/ready` answers 503 while it holds.
        public let makesUnready: Bool

        public init(_ detail: String, makesUnready: Bool) {
            self.detail = detail
            self.makesUnready = makesUnready
        }
    }

    private let conditions = Mutex<[String: Condition]>([:])

    public init() {}

    /// Records the condition of the part called `name`; nil when it is well again.
    public func report(_ name: String, _ condition: Condition?) {
        conditions.withLock { $0[name] = condition }
    }

    /// Every condition that holds now, by the name of its part.
    public var current: [String: Condition] { conditions.withLock { $0 } }
}
