public import PostgresNIO

// The statements on the hot paths (a consumer's transaction, storing an order, the outbox
// relay) are `PostgresPreparedStatement`s: PostgreSQL parses and plans each once per
// connection rather than on every execution, and the client sends only its name and values.

extension PostgresBindings {
    /// Bindings of these values, in this order.
    public static func of(_ values: any PostgresDynamicTypeEncodable...) -> PostgresBindings { of(values) }

    /// Bindings of these values, in this order.
    public static func of(_ values: [any PostgresDynamicTypeEncodable]) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values { bindings.append(value) }
        return bindings
    }
}
