public import AMQPClient
public import Logging
public import OrderEvents
import Tracing

/// A decoded delivery on its way into a transaction, with the trace and the logger it is
/// handled in.
public struct PendingEvent: Sendable {
    public let event: OrderEvent
    public let delivery: AMQPDelivery
    /// The consumer's span for this delivery: the events it causes continue its trace.
    let context: ServiceContext
    /// Carries the event's and the order's ids.
    public let logger: Logger

    init(event: OrderEvent, delivery: AMQPDelivery, context: ServiceContext, logger: Logger) {
        self.event = event
        self.delivery = delivery
        self.context = context
        self.logger = logger
    }
}
