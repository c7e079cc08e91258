import Foundation
public import ServiceRuntime

/// `INVENTORY_INITIAL_STOCK`: `Item=count,Item=count`, the stock seeded into an empty table.
public struct InitialStock: Sendable, Hashable {
    public static let defaultValue = "Burger=1000,Pizza=1000,Salad=1000,Taco=1000,Sushi=1000"

    public let items: [String: Int]

    public init(environment: EnvironmentVariables) throws(ConfigurationError) {
        let text = environment.string("INVENTORY_INITIAL_STOCK", default: Self.defaultValue)
        var items: [String: Int] = [:]
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64, let count = Int(parts[1]), count >= 0 else {
                throw ConfigurationError(variable: "INVENTORY_INITIAL_STOCK", problem: "'\(entry)' is not Item=count (a count of 0 or more)")
            }
            items[parts[0]] = count
        }
        guard !items.isEmpty else { throw ConfigurationError(variable: "INVENTORY_INITIAL_STOCK", problem: "names no item") }
        self.items = items
    }
}
