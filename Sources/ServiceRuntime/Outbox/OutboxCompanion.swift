public import PostgresNIO

/// Writes that go into the statement that adds the outbox rows they cause: data-modifying
/// `WITH` clauses (`name as (insert …), …`) with parameters `$1` to `$parameterCount`.
public protocol OutboxCompanion: Sendable {
    static var clauses: String { get }
    static var parameterCount: Int { get }
    /// The parameters' values, in order.
    var values: [any PostgresDynamicTypeEncodable] { get }
}
