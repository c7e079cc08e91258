public import Foundation

/// A message the broker delivered (basic.deliver or basic.get), to be settled exactly once
/// with `ack`, `nack` or `reject`.
public struct AMQPDelivery: Sendable {
    enum Outcome: Sendable {
        case ack
        case nack(requeue: Bool)
        case reject(requeue: Bool)
    }

    /// The connection and channel the delivery tag belongs to.
    struct Settlement: Sendable {
        let connection: AMQPConnection
        let channel: ChannelID
    }

    public let body: Data
    public let properties: AMQPProperties
    /// The exchange and routing key the message was published with.
    public let exchange: String
    public let routingKey: String
    /// Whether the broker delivered this message before (to this or another consumer).
    public let redelivered: Bool
    public let deliveryTag: UInt64
    /// For basic.get: how many messages were left in the queue after this one.
    public let messageCount: UInt32?
    let settlement: Settlement

    public var headers: AMQPTable { properties.headers ?? [:] }

    // Settling hands the frame to the connection's thread, which writes it at once and in
    // order with everything else sent on the connection, and returns without waiting for the
    // write: waiting would promise nothing more, since a connection lost just after the write
    // gets the message redelivered all the same. That keeps consumers from paying a thread
    // round trip per message.

    /// Acknowledges the message: the broker forgets it.
    public func ack() throws { try settle(.ack) }

    /// Negatively acknowledges the message: requeued, or dead-lettered when `requeue` is false.
    public func nack(requeue: Bool) throws { try settle(.nack(requeue: requeue)) }

    /// Rejects the message: requeued, or dead-lettered when `requeue` is false.
    public func reject(requeue: Bool) throws { try settle(.reject(requeue: requeue)) }

    /// Throws when the connection is already gone (the broker redelivers the message then).
    private func settle(_ outcome: Outcome) throws {
        let executor = settlement.connection.executor
        if let error = executor.closeError { throw error }
        let (tag, channel) = (deliveryTag, settlement.channel)
        let isAck = if case .ack = outcome { true } else { false }
        executor.submit(Command(run: { core in core.settle(tag, on: channel, as: outcome) }, fail: { _ in }, isAck: isAck))
    }
}
