import AsyncHTTPClient
import Hummingbird
import OrderEvents
public import ServiceRuntime
public import ServiceLifecycle

/// The notification-worker's services: outbox relay, retention, the `inventory-events`
/// consumer and the admin HTTP server.
public enum NotificationWorkerServices {
    public static let schema = DatabaseSchema(name: "notification", migrations: [[
        """
        create table notifications (
            event_id uuid primary key, order_id uuid not null, user_id text not null,
            channel text not null, outcome text not null, sent_at timestamptz not null default now()
        )
        """,
        "create index notifications_order on notifications (order_id)",
    ]])

    public static func make(_ resources: ServiceResources) throws -> [any Service] {
        let (settings, database, logger) = (resources.settings, resources.database, resources.logger)
        let notifier: any Notifier
        if let url = resources.environment.string("NOTIFY_WEBHOOK_URL") {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ConfigurationError(variable: "NOTIFY_WEBHOOK_URL", problem: "'\(url)' is not an http(s) URL")
            }
            notifier = WebhookNotifier(url: url, client: HTTPClient.shared)
        } else {
            notifier = LogNotifier()
        }
        let router = resources.makeRouter()
        return [
            OutboxRelay(resources: resources),
            RetentionService(database: database, retention: settings.retention, logger: logger),
            EventConsumer(queue: Queues.inventoryEvents, handler: NotificationHandler(notifier: notifier), resources: resources),
            resources.httpServer(router),
        ]
    }
}
