public import PostgresNIO

extension PostgresClient {
    /// Whether the database answers within `timeout`.
    public func isReachable(timeout: Duration = .seconds(2)) async -> Bool {
        (try? await withTimeout(timeout) { try await self.query("select 1") }) != nil
    }
}
