import Foundation
import Logging
import OrderEvents
import PostgresNIO
import ServiceRuntime

/// The order-api's data: orders with their history, idempotency keys, and (through the
/// runtime) its outbox and processed events. Split by who calls each part: placement and
/// idempotency (`OrderStore+Placement`, the API's POST), reads and paging (`OrderStore+Reads`,
/// the API's GETs and the board) and the projection's writes (`OrderStore+Projection`).
struct OrderStore: Sendable {
    static let schema = DatabaseSchema(name: "order_api", migrations: [[
        """
        create table orders (
            order_id uuid primary key, user_id text not null, item text not null, quantity int not null,
            status text not null, reason text, created_at timestamptz not null, updated_at timestamptz not null,
            notified_at timestamptz
        )
        """,
        "create index orders_newest on orders (created_at desc, order_id desc)",
        "create index orders_status_newest on orders (status, created_at desc, order_id desc)",
        """
        create table order_history (
            id bigserial primary key, order_id uuid not null references orders (order_id),
            status text not null, at timestamptz not null, detail text
        )
        """,
        "create index order_history_order on order_history (order_id, id)",
        """
        create table idempotency_keys (
            key text primary key, order_id uuid not null references orders (order_id),
            created_at timestamptz not null default now()
        )
        """,
    ]])

    /// A key is remembered for `RETENTION`: a repeat after that is a new order.
    static let idempotencyKeys = RetentionService.Table("idempotency_keys", key: "key", age: "created_at")

    /// Where the projection announces that orders changed; the payload is their ids,
    /// comma-separated.
    static let changesChannel = "order_changes"

    /// How long the statements that store an order may take before the API answers 503.
    static let storeTimeout: Duration = .seconds(5)

    let database: PostgresClient
    let outbox: OutboxDispatch
    let logger: Logger
    /// Orders without an idempotency key that arrive together are stored together.
    let placements: Batcher<Outbox.Entry<OrderPlaced>, Void>

    init(database: PostgresClient, outbox: OutboxDispatch, logger: Logger) {
        self.database = database
        self.outbox = outbox
        self.logger = logger
        placements = Self.placements(database: database, outbox: outbox, logger: logger)
    }
}
