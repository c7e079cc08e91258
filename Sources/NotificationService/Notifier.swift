import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OrderEvents
import ServiceRuntime

/// A notification for the customer about their order.
struct Notification: Codable, Sendable {
    let notificationID: UUID
    let orderID: UUID
    let userID: String
    let item: String
    let quantity: Int
    let outcome: NotificationOutcome
    let reason: InventoryFailureReason?

    enum CodingKeys: String, CodingKey {
        case notificationID = "notification_id", orderID = "order_id", userID = "user_id", item, quantity, outcome, reason
    }
}

/// How a customer is reached.
protocol Notifier: Sendable {
    /// The channel name recorded and sent in `NotificationSent`.
    var channel: String { get }
    /// Delivers the notification; throws when it could not (a transient failure: retried).
    func send(_ notification: Notification, logger: Logger) async throws
}

/// The default channel: one structured log line per notification.
struct LogNotifier: Notifier {
    let channel = "log"

    func send(_ notification: Notification, logger: Logger) async throws {
        var metadata: Logger.Metadata = [
            "user_id": "\(notification.userID)", "outcome": "\(notification.outcome.rawValue)",
            "item": "\(notification.item)", "quantity": "\(notification.quantity)",
        ]
        if let reason = notification.reason { metadata["reason"] = "\(reason.rawValue)" }
        logger.notice("customer notified", metadata: metadata)
    }
}

/// `NOTIFY_WEBHOOK_URL`: an HTTP POST of the notification as JSON. A timeout or a non-2xx
/// answer is a failure, retried; the receiver can tell repeats by `notification_id`.
struct WebhookNotifier: Notifier {
    let channel = "webhook"
    let url: String
    let client: HTTPClient
    let timeout: TimeAmount = .seconds(5)

    struct Rejected: Error, CustomStringConvertible {
        let status: HTTPResponseStatus
        var description: String { "the webhook answered \(status.code) \(status.reasonPhrase)" }
    }

    func send(_ notification: Notification, logger: Logger) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let traceparent = TraceParent.current { request.headers.add(name: TraceParent.header, value: traceparent) }
        request.body = .bytes(ByteBuffer(bytes: try EventCoding.makeEncoder().encode(notification)))
        let response = try await client.execute(request, timeout: timeout, logger: logger)
        guard (200..<300).contains(response.status.code) else { throw Rejected(status: response.status) }
    }
}
