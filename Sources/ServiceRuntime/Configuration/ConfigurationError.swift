/// A variable that is set to something the service cannot use. Services print its
/// description as one line and stop at start-up.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let variable: String
    public let problem: String

    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { "invalid \(variable): \(problem)" }
}
