public import PostgresNIO

extension PostgresClient {
    /// Whether the database answers within `timeout`.
    public func isReachable(timeout: Duration = .seconds(2)) async -> Bool {
        (try? await withTimeout(timeout) { try await self.query("select 1") }) != nil
    }

    /// Whether the database answers within `timeout` and takes writes: it is not a standby in
    /// recovery, nor read-only (`default_transaction_read_only`, which an operator sets for
    /// maintenance, and some managed databases when their disk is full).
    public func takesWrites(timeout: Duration = .seconds(2)) async -> Bool {
        let writable = try? await withTimeout(timeout) {
            let rows = try await self.query("select not (pg_is_in_recovery() or current_setting('transaction_read_only')::bool)")
            for try await writable in rows.decode(Bool.self) { return writable }
            return false
        }
        return writable ?? false
    }
}
