public import Foundation

/// A variable that is set to something the service cannot use. Services print its
/// description as one line and stop at start-up.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let variable: String
    public let problem: String

    public var description: String { "invalid \(variable): \(problem)" }
}

/// The one configuration reader of every service: environment variables with defaults.
/// An unset or empty variable takes its default; a set one must be valid.
public struct Environment: Sendable {
    private let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    public func string(_ name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    public func string(_ name: String, default fallback: String) -> String {
        string(name) ?? fallback
    }

    public func integer(_ name: String, default fallback: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let text = string(name) else { return fallback }
        guard let value = Int(text) else { throw ConfigurationError(variable: name, problem: "'\(text)' is not an integer") }
        guard range.contains(value) else {
            throw ConfigurationError(variable: name, problem: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    public func choice<T: RawRepresentable & CaseIterable>(_ name: String, default fallback: T) throws(ConfigurationError) -> T where T.RawValue == String {
        guard let text = string(name) else { return fallback }
        guard let value = T(rawValue: text.lowercased()) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(variable: name, problem: "'\(text)' is not one of \(allowed)")
        }
        return value
    }
}
