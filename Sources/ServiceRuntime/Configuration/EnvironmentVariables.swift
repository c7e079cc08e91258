public import Foundation

/// The one configuration reader of every service: environment variables with defaults.
/// An unset or empty variable takes its default; a set one must be valid.
public struct EnvironmentVariables: Sendable {
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

    /// A duration such as `500ms`, `30s`, `15m`, `24h`, `7d`, or a number of seconds.
    public func duration(_ name: String, default fallback: Duration) throws(ConfigurationError) -> Duration {
        try duration(name) ?? fallback
    }

    /// A duration, or nil when the variable is unset.
    public func duration(_ name: String) throws(ConfigurationError) -> Duration? {
        guard let text = string(name) else { return nil }
        return try Self.positiveDuration(text, variable: name)
    }

    /// A comma-separated list of durations, such as `1s,5s,30s`.
    public func durations(_ name: String, default fallback: [Duration]) throws(ConfigurationError) -> [Duration] {
        guard let text = string(name) else { return fallback }
        var values: [Duration] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            values.append(try Self.positiveDuration(part.trimmingCharacters(in: .whitespaces), variable: name))
        }
        return values
    }

    /// A number from 0 to 1, such as `0.25`.
    public func fraction(_ name: String, default fallback: Double) throws(ConfigurationError) -> Double {
        guard let text = string(name) else { return fallback }
        guard let value = Double(text), (0...1).contains(value) else {
            throw ConfigurationError(variable: name, problem: "'\(text)' is not a number from 0 to 1")
        }
        return value
    }

    private static func positiveDuration(_ text: String, variable: String) throws(ConfigurationError) -> Duration {
        guard let value = parseDuration(text), value > .zero else {
            throw ConfigurationError(variable: variable, problem: "'\(text)' is not a duration like 500ms, 30s, 15m, 24h or 7d")
        }
        return value
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)), number.isFinite else { return nil }
            return .milliseconds(Int64((number * seconds * 1000).rounded()))
        }
        return Double(text).flatMap { $0.isFinite ? .milliseconds(Int64(($0 * 1000).rounded())) : nil }
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
