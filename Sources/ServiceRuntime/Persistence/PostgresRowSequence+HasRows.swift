public import PostgresNIO

extension PostgresRowSequence {
    /// Whether the statement returned at least one row (the rest are drained).
    public func hasRows() async throws -> Bool {
        var any = false
        for try await _ in self { any = true }
        return any
    }
}
