/// The deliveries of one consumer (basic.consume on a channel of its own, with its prefetch).
///
/// The sequence ends normally when the consumer is cancelled or the connection is closed by
/// the application, and with an error when the connection is lost, the channel is closed or
/// the broker cancels the consumer.
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    public let queue: String
    public let tag: String
    let connection: AMQPConnection
    let channel: ChannelID
    let deliveries: AsyncThrowingStream<AMQPDelivery, any Error>

    public func makeAsyncIterator() -> AsyncThrowingStream<AMQPDelivery, any Error>.Iterator {
        deliveries.makeAsyncIterator()
    }

    /// Stops new deliveries (basic.cancel). Deliveries the broker sent before are still
    /// yielded and can still be acknowledged; then the sequence ends. Returns at once; if the
    /// connection is gone the sequence ends anyway.
    public func cancel() {
        let channel = self.channel
        connection.executor.submit(Command(run: { core in try? core.cancelConsumer(on: channel) }, fail: { _ in }))
    }

    /// Closes the consumer's channel. The broker requeues every delivery not yet acknowledged.
    public func close() async {
        let channel = self.channel
        _ = try? await connection.executor.perform { core in core.closeConsumer(on: channel) }
    }
}
