/// What can go wrong talking to the broker.
public enum AMQPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The URL could not be parsed.
    case invalidURL(String)
    /// The TCP connection or the AMQP handshake (including authentication) failed.
    case connectionFailed(String)
    /// The connection is gone: closed by us, by the broker (with its reply code and text),
    /// or lost on the network. Pending publishes and consumers end with this error.
    case connectionClosed(code: UInt16?, reason: String)
    /// The broker closed a channel, for example 404 NOT_FOUND or 406 PRECONDITION_FAILED.
    /// The connection survives; the client opens a fresh channel for later calls.
    case channelClosed(code: UInt16, reason: String, method: String)
    /// The broker refused a published message (basic.nack).
    case publishNacked
    /// A mandatory message could not be routed to any queue (basic.return).
    case unroutable(code: UInt16, reason: String)
    /// The broker cancelled a consumer, for example because its queue was deleted.
    case consumerCancelled(queue: String)
    /// A call the library made failed locally (librabbitmq status text).
    case library(String)

    public var description: String {
        switch self {
        case .invalidURL(let url): "invalid AMQP URL: \(url)"
        case .connectionFailed(let reason): "cannot connect to RabbitMQ: \(reason)"
        case .connectionClosed(let code?, let reason): "connection closed by the broker: \(code) \(reason)"
        case .connectionClosed(nil, let reason): "connection closed: \(reason)"
        case .channelClosed(let code, let reason, let method): "channel closed by the broker on \(method): \(code) \(reason)"
        case .publishNacked: "the broker refused the message (basic.nack)"
        case .unroutable(let code, let reason): "message returned as unroutable: \(code) \(reason)"
        case .consumerCancelled(let queue): "the broker cancelled the consumer of queue '\(queue)'"
        case .library(let text): "librabbitmq: \(text)"
        }
    }

    /// Whether the error means the connection is gone, so the call may succeed on a new one.
    public var isConnectionLoss: Bool {
        if case .connectionClosed = self { return true }
        return false
    }

    /// Whether the broker returned a `mandatory` message that reached no queue.
    public var isUnroutable: Bool {
        if case .unroutable = self { return true }
        return false
    }

    /// Whether the broker closed the channel because something the call names does not exist
    /// (404 NOT_FOUND): an exchange deleted under a publisher, say.
    public var isNotFound: Bool {
        if case .channelClosed(code: 404, _, _) = self { return true }
        return false
    }
}
