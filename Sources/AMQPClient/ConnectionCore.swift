internal import CRabbitMQ
import Foundation
import Logging

/// A channel as the client knows it: its number, plus a generation that changes each time the
/// number is opened anew, so a delivery tag is never acknowledged on a later channel that
/// happens to reuse the number.
struct ChannelID: Hashable, Sendable {
    let number: UInt16
    let generation: UInt64
}

/// Where a queue stands, from a queue.declare reply.
public struct QueueState: Sendable, Hashable {
    public let name: String
    public let messageCount: UInt32
    public let consumerCount: UInt32
}

/// The one owner of a librabbitmq connection. Every C call of the package is made here, and
/// only on the connection's own thread (see `ConnectionExecutor`), which is why the type can
/// be `@unchecked Sendable`: it is handed to that thread once and never shared.
final class ConnectionCore: @unchecked Sendable {
    private struct PendingPublish {
        let completion: @Sendable (Int, Result<Void, AMQPError>) -> Void
        /// The message's position in the batch it was published with.
        let index: Int
        let exchange: String
        let routingKey: String
        let messageID: String?
        var returned: AMQPError?
    }

    /// The confirm-mode channel and its outstanding publishes, by sequence number. A class, so
    /// the table is updated in place rather than copied on every publish.
    private final class Publisher {
        let channel: ChannelID
        var nextSequence: UInt64 = 1
        var pending: [UInt64: PendingPublish] = [:]
        var oldestPending: UInt64 = 1

        init(channel: ChannelID) { self.channel = channel }
    }

    private struct Consumer {
        let queue: String
        let tag: String
        let channel: ChannelID
        let continuation: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation
        let connection: AMQPConnection
        /// basic.cancel is done; deliveries sent before it are still to be yielded.
        var cancelled = false
    }

    /// A message whose method frame arrived and whose header and body frames are being read.
    private struct IncomingContent {
        enum Method {
            case deliver(tag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
            case returned(code: UInt16, text: String, exchange: String, routingKey: String)
        }
        let method: Method
        var properties = AMQPProperties()
        var bodySize = 0
        var body = Data()
    }

    let configuration: AMQPConfiguration
    private let logger: Logger
    /// Told when the broker blocks the connection for a resource alarm (true) and unblocks it.
    private let blockedChanged: @Sendable (Bool) -> Void
    /// Whether the broker has blocked the connection (`connection.blocked`): it reads nothing
    /// more from it, publishes or a close, until the alarm clears.
    private var blocked = false
    private var state: amqp_connection_state_t?
    private(set) var socketDescriptor: Int32 = -1
    private(set) var closeError: AMQPError?

    private var openChannels: [UInt16: UInt64] = [:]
    private var freeChannelNumbers: [UInt16] = []
    private var nextChannelNumber: UInt16 = 1
    private var channelGenerations: UInt64 = 0
    private var controlChannel: ChannelID?
    private var publisher: Publisher?
    private var consumers: [UInt16: Consumer] = [:]
    private var incoming: [UInt16: IncomingContent] = [:]
    /// Per channel, what was delivered and not settled, and the acks not written yet.
    private var unsettled: [UInt16: UnsettledDeliveries] = [:]

    private var lastInbound = ContinuousClock.now
    /// The heartbeat interval agreed with the broker in the handshake (seconds; 0 for none).
    private var heartbeat = 0
    /// What the broker said about itself in connection.start (`version`, `product`, …).
    private(set) var serverProperties: AMQPTable = [:]
    /// A graceful close in progress: its deadline and whoever waits for it.
    private var closeRequest: (deadline: ContinuousClock.Instant, waiters: [@Sendable () -> Void])?

    init(configuration: AMQPConfiguration, logger: Logger, blockedChanged: @escaping @Sendable (Bool) -> Void) {
        self.configuration = configuration
        self.logger = logger
        self.blockedChanged = blockedChanged
    }

    /// How long a synchronous call (a declaration, a close) waits for the broker's reply.
    static let rpcTimeout = timeval(tv_sec: 30, tv_usec: 0)

    var isOpen: Bool { closeError == nil }

    // MARK: Opening and closing

    func open() throws(AMQPError) {
        guard let state = amqp_new_connection() else { throw .library("cannot allocate a connection") }
        self.state = state
        guard let socket = amqp_tcp_socket_new(state) else { throw .library("cannot allocate a socket") }
        var timeout = timeval(tv_sec: configuration.connectTimeout, tv_usec: 0)
        let status = amqp_socket_open_noblock(socket, configuration.host, Int32(configuration.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            let cause = errno != 0 ? String(cString: strerror(errno)) : Self.describe(status)
            throw .connectionFailed("\(configuration.address): \(cause)")
        }
        let arena = CArena()
        var clientProperties = arena.table([
            "connection_name": .string(configuration.connectionName),
            "capabilities": .table([
                "consumer_cancel_notify": true,
                "publisher_confirms": true,
                "connection.blocked": true,
                "basic.nack": true,
            ]),
        ])
        let reply = amqp_shim_login_plain(
            state, configuration.virtualHost, 0, 131_072, Int32(configuration.heartbeat),
            &clientProperties, configuration.user, configuration.password
        )
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            throw .connectionFailed("login to \(configuration.address) as '\(configuration.user)' failed: \(describe(reply))")
        }
        socketDescriptor = amqp_get_sockfd(state)
        var rpcTimeout = Self.rpcTimeout
        _ = amqp_set_rpc_timeout(state, &rpcTimeout)
        heartbeat = Int(amqp_get_heartbeat(state))
        if let properties = amqp_get_server_properties(state) { serverProperties = AMQPTable(properties.pointee) }
        lastInbound = .now
    }

    /// Starts a graceful close: the connection stays up until every outstanding publish is
    /// confirmed (or `timeout` passes), then closes with 200 and calls `done`.
    func beginClose(timeout: Duration, done: @escaping @Sendable () -> Void) {
        guard isOpen else { return done() }
        if closeRequest == nil {
            closeRequest = (.now + timeout, [done])
        } else {
            closeRequest?.waiters.append(done)
        }
        finishCloseIfDrained()
    }

    private func finishCloseIfDrained() {
        guard let request = closeRequest else { return }
        // A blocked connection confirms nothing and answers no close until the alarm clears:
        // it is dropped at once, and what it did not confirm is published again elsewhere.
        guard blocked || publisher?.pending.isEmpty ?? true || ContinuousClock.now >= request.deadline else { return }
        closeRequest = nil
        if let state, !blocked {
            _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        }
        fail(.connectionClosed(code: nil, reason: "closed by the application"), finishConsumersNormally: true)
        for done in request.waiters { done() }
    }

    /// Ends the connection: every waiting publish fails with `error`, every consumer ends.
    private func fail(_ error: AMQPError, finishConsumersNormally: Bool = false) {
        guard closeError == nil else { return }
        closeError = error
        if let publisher { failPending(publisher, with: error) }
        publisher = nil
        for consumer in consumers.values {
            if finishConsumersNormally { consumer.continuation.finish() } else { consumer.continuation.finish(throwing: error) }
        }
        consumers = [:]
        if let request = closeRequest {
            closeRequest = nil
            for done in request.waiters { done() }
        }
        if !finishConsumersNormally {
            logger.warning("AMQP connection lost", metadata: ["error": "\(error)"])
        }
    }

    func destroy() {
        if let state { amqp_destroy_connection(state) }
        state = nil
    }

    // MARK: Timers

    /// How long the thread may sleep in poll: long enough to cost nothing, short enough to
    /// send heartbeats on time and to notice a graceful close's deadline.
    var pollTimeoutMilliseconds: Int32 {
        if closeRequest != nil { return 50 }
        return heartbeat > 0 ? Int32(heartbeat * 500) : -1
    }

    func noteInboundTraffic() { lastInbound = .now }

    func checkTimers() {
        finishCloseIfDrained()
        if heartbeat > 0, ContinuousClock.now - lastInbound > .seconds(2 * heartbeat + 1) {
            fail(.connectionClosed(code: nil, reason: "no heartbeat from the broker for \(2 * heartbeat) s"))
        }
    }

    // MARK: Channels

    private func openChannel() throws(AMQPError) -> ChannelID {
        let state = try liveState()
        let number: UInt16
        if let reused = freeChannelNumbers.popLast() {
            number = reused
        } else {
            let maximum = UInt16(clamping: amqp_get_channel_max(state))
            guard maximum == 0 || nextChannelNumber <= maximum else { throw .library("no free channel (channel_max \(maximum))") }
            number = nextChannelNumber
            nextChannelNumber += 1
        }
        _ = amqp_channel_open(state, number)
        do {
            try check(amqp_get_rpc_reply(state), channel: number, method: "channel.open")
        } catch {
            freeChannelNumbers.append(number)
            throw error
        }
        channelGenerations += 1
        openChannels[number] = channelGenerations
        return ChannelID(number: number, generation: channelGenerations)
    }

    /// Forgets a channel the broker closed (or we closed) so its number can be used again.
    private func channelEnded(_ number: UInt16) {
        guard openChannels.removeValue(forKey: number) != nil else { return }
        freeChannelNumbers.append(number)
        incoming[number] = nil
        unsettled[number] = nil
        if controlChannel?.number == number { controlChannel = nil }
        if let publisher, publisher.channel.number == number { self.publisher = nil }
        consumers[number] = nil
    }

    private func closeChannel(_ channel: ChannelID) {
        guard let state, openChannels[channel.number] == channel.generation else { return }
        let reply = amqp_channel_close(state, channel.number, AMQP_REPLY_SUCCESS)
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
            fail(.connectionClosed(code: nil, reason: Self.describe(reply.library_error)))
        }
        channelEnded(channel.number)
    }

    private func control() throws(AMQPError) -> ChannelID {
        if let controlChannel { return controlChannel }
        let channel = try openChannel()
        controlChannel = channel
        return channel
    }

    private func liveState() throws(AMQPError) -> amqp_connection_state_t {
        if let closeError { throw closeError }
        guard let state else { throw .connectionClosed(code: nil, reason: "not connected") }
        return state
    }

    // MARK: Declarations (synchronous RPCs on the control channel)

    func declareExchange(_ name: String, type: String, durable: Bool, autoDelete: Bool, isInternal: Bool, arguments: AMQPTable) throws(AMQPError) {
        let state = try liveState(), channel = try control(), arena = CArena()
        _ = amqp_exchange_declare(state, channel.number, arena.bytes(name), arena.bytes(type), 0, durable ? 1 : 0, autoDelete ? 1 : 0, isInternal ? 1 : 0, arena.table(arguments))
        try check(amqp_get_rpc_reply(state), channel: channel.number, method: "exchange.declare '\(name)'")
    }

    func declareQueue(_ name: String, passive: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: AMQPTable) throws(AMQPError) -> QueueState {
        let state = try liveState(), channel = try control(), arena = CArena()
        let ok = amqp_queue_declare(state, channel.number, arena.bytes(name), passive ? 1 : 0, durable ? 1 : 0, exclusive ? 1 : 0, autoDelete ? 1 : 0, arena.table(arguments))
        try check(amqp_get_rpc_reply(state), channel: channel.number, method: "queue.declare '\(name)'")
        guard let ok else { throw .library("queue.declare returned no reply") }
        return QueueState(name: ok.pointee.queue.string, messageCount: ok.pointee.message_count, consumerCount: ok.pointee.consumer_count)
    }

    func bindQueue(_ queue: String, exchange: String, routingKey: String, arguments: AMQPTable) throws(AMQPError) {
        let state = try liveState(), channel = try control(), arena = CArena()
        _ = amqp_queue_bind(state, channel.number, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey), arena.table(arguments))
        try check(amqp_get_rpc_reply(state), channel: channel.number, method: "queue.bind '\(queue)' to '\(exchange)' with '\(routingKey)'")
    }

    func purgeQueue(_ name: String) throws(AMQPError) -> UInt32 {
        let state = try liveState(), channel = try control(), arena = CArena()
        let ok = amqp_queue_purge(state, channel.number, arena.bytes(name))
        try check(amqp_get_rpc_reply(state), channel: channel.number, method: "queue.purge '\(name)'")
        return ok?.pointee.message_count ?? 0
    }

    func deleteQueue(_ name: String) throws(AMQPError) -> UInt32 {
        let state = try liveState(), channel = try control(), arena = CArena()
        let ok = amqp_queue_delete(state, channel.number, arena.bytes(name), 0, 0)
        try check(amqp_get_rpc_reply(state), channel: channel.number, method: "queue.delete '\(name)'")
        return ok?.pointee.message_count ?? 0
    }

    func deleteExchange(_ name: String) throws(AMQPError) {
        let state = try liveState(), channel = try control(), arena = CArena()
        _ = amqp_exchange_delete(state, channel.number, arena.bytes(name), 0)
        try check(amqp_get_rpc_reply(state), channel: channel.number, method: "exchange.delete '\(name)'")
    }

    // MARK: Publishing with confirms

    /// Publishes `messages` in order; `completion` runs once per message, with its index, when
    /// the broker confirmed or refused it, or the publish failed.
    func publish(_ messages: [OutgoingMessage], completion: @escaping @Sendable (Int, Result<Void, AMQPError>) -> Void) {
        for (index, message) in messages.enumerated() {
            do throws(AMQPError) {
                if closeRequest != nil { throw .connectionClosed(code: nil, reason: "the connection is closing") }
                let state = try liveState()
                let publisher = try currentPublisher()
                let arena = CArena()
                var properties = arena.properties(message.properties)
                let status = message.body.withUnsafeBytes { buffer in
                    amqp_basic_publish(
                        state, publisher.channel.number, arena.bytes(message.exchange), arena.bytes(message.routingKey),
                        message.mandatory ? 1 : 0, 0, &properties,
                        amqp_bytes_t(len: buffer.count, bytes: UnsafeMutableRawPointer(mutating: buffer.baseAddress))
                    )
                }
                guard status == AMQP_STATUS_OK.rawValue else {
                    let error = AMQPError.connectionClosed(code: nil, reason: Self.describe(status))
                    fail(error)
                    throw error
                }
                publisher.pending[publisher.nextSequence] = PendingPublish(
                    completion: completion, index: index, exchange: message.exchange, routingKey: message.routingKey,
                    messageID: message.properties.messageID
                )
                publisher.nextSequence += 1
            } catch {
                completion(index, .failure(error))
            }
        }
    }

    private func currentPublisher() throws(AMQPError) -> Publisher {
        if let publisher { return publisher }
        let state = try liveState()
        let channel = try openChannel()
        _ = amqp_confirm_select(state, channel.number)
        try check(amqp_get_rpc_reply(state), channel: channel.number, method: "confirm.select")
        let publisher = Publisher(channel: channel)
        self.publisher = publisher
        return publisher
    }

    private func confirm(upTo tag: UInt64, multiple: Bool, nacked: Bool) {
        guard let publisher else { return }
        let tags = multiple ? publisher.oldestPending...max(tag, publisher.oldestPending) : tag...tag
        for sequence in tags {
            guard let pending = publisher.pending.removeValue(forKey: sequence) else { continue }
            if nacked {
                pending.completion(pending.index, .failure(.publishNacked))
            } else if let returned = pending.returned {
                pending.completion(pending.index, .failure(returned))
            } else {
                pending.completion(pending.index, .success(()))
            }
        }
        while publisher.oldestPending < publisher.nextSequence, publisher.pending[publisher.oldestPending] == nil {
            publisher.oldestPending += 1
        }
        finishCloseIfDrained()
    }

    /// A basic.return names no sequence number; the broker sends it before the confirm of the
    /// same message and in publish order, so it belongs to the oldest matching publish.
    private func markReturned(exchange: String, routingKey: String, messageID: String?, error: AMQPError) {
        guard let publisher else { return }
        let match = publisher.pending
            .filter { $0.value.returned == nil && $0.value.exchange == exchange && $0.value.routingKey == routingKey && $0.value.messageID == messageID }
            .min { $0.key < $1.key }
        guard let (sequence, _) = match else { return }
        publisher.pending[sequence]?.returned = error
    }

    private func failPending(_ publisher: Publisher, with error: AMQPError) {
        for pending in publisher.pending.values { pending.completion(pending.index, .failure(error)) }
    }

    // MARK: Consuming

    func consume(queue: String, prefetch: UInt16, connection: AMQPConnection) throws(AMQPError) -> (tag: String, channel: ChannelID, deliveries: AsyncThrowingStream<AMQPDelivery, any Error>) {
        let state = try liveState()
        let channel = try openChannel()
        do {
            _ = amqp_basic_qos(state, channel.number, 0, prefetch, 0)
            try check(amqp_get_rpc_reply(state), channel: channel.number, method: "basic.qos")
            let arena = CArena()
            let ok = amqp_basic_consume(state, channel.number, arena.bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table)
            try check(amqp_get_rpc_reply(state), channel: channel.number, method: "basic.consume '\(queue)'")
            let tag = ok?.pointee.consumer_tag.string ?? ""
            // Deliveries are bounded by the prefetch, so the buffer is too.
            let (stream, continuation) = AsyncThrowingStream<AMQPDelivery, any Error>.makeStream()
            consumers[channel.number] = Consumer(queue: queue, tag: tag, channel: channel, continuation: continuation, connection: connection)
            return (tag, channel, stream)
        } catch {
            closeChannel(channel)
            throw error
        }
    }

    /// Stops the broker sending to a consumer; what was already sent is still yielded, and
    /// the channel stays open so those deliveries can be acknowledged.
    func cancelConsumer(on channel: ChannelID) throws(AMQPError) {
        let state = try liveState()
        guard openChannels[channel.number] == channel.generation, let consumer = consumers[channel.number] else { return }
        let arena = CArena()
        _ = amqp_basic_cancel(state, channel.number, arena.bytes(consumer.tag))
        try check(amqp_get_rpc_reply(state), channel: channel.number, method: "basic.cancel")
        // Deliveries that came before cancel-ok wait in librabbitmq's frame queue; the
        // sequence ends once they are yielded (see processIncomingFrames).
        consumers[channel.number]?.cancelled = true
    }

    /// Closes a consumer's channel; the broker requeues whatever it delivered and was not acked.
    func closeConsumer(on channel: ChannelID) {
        if let consumer = consumers[channel.number], consumer.channel == channel {
            consumers[channel.number] = nil
            consumer.continuation.finish()
        }
        closeChannel(channel)
    }

    /// Settles a delivery. An ack waits for `writeAcks`, which the connection's thread calls
    /// before any other command and before it sleeps, so the acks asked for together leave
    /// together; a nack or a reject is written at once. A delivery whose channel has closed
    /// since is skipped: the broker has already requeued it.
    func settle(_ tag: UInt64, on channel: ChannelID, as outcome: AMQPDelivery.Outcome) {
        guard let state, isOpen else { return }
        guard openChannels[channel.number] == channel.generation else {
            logger.debug("not settling a delivery of a closed channel; the broker redelivers it", metadata: ["delivery_tag": "\(tag)"])
            return
        }
        let status: Int32
        switch outcome {
        case .ack:
            unsettled[channel.number, default: UnsettledDeliveries()].ack(tag)
            return
        case .nack(let requeue):
            status = amqp_basic_nack(state, channel.number, tag, 0, requeue ? 1 : 0)
        case .reject(let requeue):
            status = amqp_basic_reject(state, channel.number, tag, requeue ? 1 : 0)
        }
        unsettled[channel.number]?.settledOtherwise(tag)
        if status != AMQP_STATUS_OK.rawValue {
            fail(.connectionClosed(code: nil, reason: Self.describe(status)))
        }
    }

    /// Writes the acks asked for.
    func writeAcks() {
        for number in unsettled.compactMap({ $0.value.hasAcksToWrite ? $0.key : nil }) {
            guard let state, isOpen, let acks = unsettled[number]?.takeAcks() else { return }
            for ack in acks {
                let status = amqp_basic_ack(state, number, ack.tag, ack.multiple ? 1 : 0)
                guard status == AMQP_STATUS_OK.rawValue else { return fail(.connectionClosed(code: nil, reason: Self.describe(status))) }
            }
        }
    }

    /// basic.get: one message or nil, unacknowledged, on the control channel.
    func get(queue: String, connection: AMQPConnection) throws(AMQPError) -> AMQPDelivery? {
        let state = try liveState(), channel = try control(), arena = CArena()
        let reply = amqp_basic_get(state, channel.number, arena.bytes(queue), 0)
        try check(reply, channel: channel.number, method: "basic.get '\(queue)'")
        guard reply.reply.id == AMQP_BASIC_GET_OK_METHOD, let decoded = reply.reply.decoded else { return nil }
        let ok = decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        let (tag, redelivered, exchange, routingKey, remaining) = (ok.delivery_tag, ok.redelivered != 0, ok.exchange.string, ok.routing_key.string, ok.message_count)
        var message = amqp_message_t()
        try check(amqp_read_message(state, channel.number, &message, 0), channel: channel.number, method: "basic.get '\(queue)'")
        defer { amqp_destroy_message(&message) }
        unsettled[channel.number, default: UnsettledDeliveries()].delivered(tag)
        return AMQPDelivery(
            body: Data(message.body.array), properties: AMQPProperties(message.properties),
            exchange: exchange, routingKey: routingKey, redelivered: redelivered, deliveryTag: tag,
            messageCount: remaining, settlement: .init(connection: connection, channel: channel)
        )
    }

    // MARK: Incoming frames

    /// Handles every frame already received, without blocking.
    func processIncomingFrames() {
        guard let state else { return }
        var frame = amqp_frame_t()
        var immediately = timeval(tv_sec: 0, tv_usec: 0)
        while isOpen {
            let status = amqp_simple_wait_frame_noblock(state, &frame, &immediately)
            if status == AMQP_STATUS_TIMEOUT.rawValue { break }
            guard status == AMQP_STATUS_OK.rawValue else {
                fail(.connectionClosed(code: nil, reason: Self.describe(status)))
                return
            }
            lastInbound = .now
            handle(frame)
        }
        for (number, consumer) in consumers where consumer.cancelled {
            consumers[number] = nil
            consumer.continuation.finish()
        }
        if isOpen { amqp_maybe_release_buffers(state) }
    }

    private func handle(_ frame: amqp_frame_t) {
        let channel = frame.channel
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            handleMethod(frame.payload.method, on: channel)
        case AMQP_FRAME_HEADER:
            guard var content = incoming[channel] else { return }
            if let decoded = frame.payload.properties.decoded {
                content.properties = AMQPProperties(decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
            }
            content.bodySize = Int(frame.payload.properties.body_size)
            content.body.reserveCapacity(content.bodySize)
            completeOrKeep(content, on: channel)
        case AMQP_FRAME_BODY:
            guard var content = incoming[channel] else { return }
            let fragment = frame.payload.body_fragment
            if fragment.len > 0, let bytes = fragment.bytes {
                content.body.append(bytes.assumingMemoryBound(to: UInt8.self), count: fragment.len)
            }
            completeOrKeep(content, on: channel)
        default:
            break
        }
    }

    private func completeOrKeep(_ content: IncomingContent, on channel: UInt16) {
        guard content.body.count >= content.bodySize else {
            incoming[channel] = content
            return
        }
        incoming[channel] = nil
        switch content.method {
        case .deliver(let tag, let redelivered, let exchange, let routingKey):
            guard let consumer = consumers[channel] else { return }
            unsettled[channel, default: UnsettledDeliveries()].delivered(tag)
            consumer.continuation.yield(AMQPDelivery(
                body: content.body, properties: content.properties, exchange: exchange, routingKey: routingKey,
                redelivered: redelivered, deliveryTag: tag, messageCount: nil,
                settlement: .init(connection: consumer.connection, channel: consumer.channel)
            ))
        case .returned(let code, let text, let exchange, let routingKey):
            markReturned(exchange: exchange, routingKey: routingKey, messageID: content.properties.messageID, error: .unroutable(code: code, reason: text))
        }
    }

    private func handleMethod(_ method: amqp_method_t, on channel: UInt16) {
        func decoded<T>(_: T.Type) -> T? { method.decoded?.assumingMemoryBound(to: T.self).pointee }
        switch method.id {
        case AMQP_BASIC_DELIVER_METHOD:
            guard let deliver = decoded(amqp_basic_deliver_t.self) else { return }
            incoming[channel] = IncomingContent(method: .deliver(
                tag: deliver.delivery_tag, redelivered: deliver.redelivered != 0,
                exchange: deliver.exchange.string, routingKey: deliver.routing_key.string
            ))
        case AMQP_BASIC_RETURN_METHOD:
            guard let returned = decoded(amqp_basic_return_t.self) else { return }
            incoming[channel] = IncomingContent(method: .returned(
                code: returned.reply_code, text: returned.reply_text.string,
                exchange: returned.exchange.string, routingKey: returned.routing_key.string
            ))
        case AMQP_BASIC_ACK_METHOD:
            guard let ack = decoded(amqp_basic_ack_t.self), publisher?.channel.number == channel else { return }
            confirm(upTo: ack.delivery_tag, multiple: ack.multiple != 0, nacked: false)
        case AMQP_BASIC_NACK_METHOD:
            guard let nack = decoded(amqp_basic_nack_t.self), publisher?.channel.number == channel else { return }
            confirm(upTo: nack.delivery_tag, multiple: nack.multiple != 0, nacked: true)
        case AMQP_BASIC_CANCEL_METHOD:
            // The broker cancelled a consumer (its queue was deleted, or a quorum queue lost its leader).
            guard let consumer = consumers.removeValue(forKey: channel) else { return }
            consumer.continuation.finish(throwing: AMQPError.consumerCancelled(queue: consumer.queue))
        case AMQP_CHANNEL_CLOSE_METHOD:
            guard let close = decoded(amqp_channel_close_t.self) else { return }
            channelClosedByBroker(channel, close: close, method: "channel")
        case AMQP_CONNECTION_CLOSE_METHOD:
            guard let close = decoded(amqp_connection_close_t.self) else { return }
            connectionClosedByBroker(close)
        case AMQP_CONNECTION_BLOCKED_METHOD:
            logger.warning("the broker blocked publishing (resource alarm)", metadata: ["reason": "\(decoded(amqp_connection_blocked_t.self)?.reason.string ?? "")"])
            blocked = true
            blockedChanged(true)
            finishCloseIfDrained()
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            logger.info("the broker unblocked publishing")
            blocked = false
            blockedChanged(false)
        default:
            break
        }
    }

    private func channelClosedByBroker(_ channel: UInt16, close: amqp_channel_close_t, method: String) {
        let error = AMQPError.channelClosed(code: close.reply_code, reason: close.reply_text.string, method: method)
        if let state {
            var ok = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
        }
        if let publisher, publisher.channel.number == channel { failPending(publisher, with: error) }
        if let consumer = consumers[channel] { consumer.continuation.finish(throwing: error) }
        channelEnded(channel)
    }

    private func connectionClosedByBroker(_ close: amqp_connection_close_t) {
        if let state {
            var ok = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
        }
        fail(.connectionClosed(code: close.reply_code, reason: close.reply_text.string))
    }

    // MARK: Replies and errors

    /// Turns an RPC reply into a typed error, answering the broker's close as the protocol asks.
    private func check(_ reply: amqp_rpc_reply_t, channel: UInt16, method: String) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            lastInbound = .now
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD:
            guard let close = reply.reply.decoded?.assumingMemoryBound(to: amqp_channel_close_t.self).pointee else {
                throw .library("channel closed without a reason")
            }
            channelClosedByBroker(channel, close: close, method: method)
            throw .channelClosed(code: close.reply_code, reason: close.reply_text.string, method: method)
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD:
            guard let close = reply.reply.decoded?.assumingMemoryBound(to: amqp_connection_close_t.self).pointee else {
                throw .library("connection closed without a reason")
            }
            connectionClosedByBroker(close)
            throw closeError ?? .connectionClosed(code: close.reply_code, reason: close.reply_text.string)
        default:
            let error = AMQPError.connectionClosed(code: nil, reason: describe(reply))
            fail(error)
            throw error
        }
    }

    private func describe(_ reply: amqp_rpc_reply_t) -> String {
        switch reply.reply_type {
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return Self.describe(reply.library_error)
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD:
            guard let close = reply.reply.decoded?.assumingMemoryBound(to: amqp_connection_close_t.self).pointee else { break }
            return "\(close.reply_code) \(close.reply_text.string)"
        default:
            break
        }
        return "unexpected reply (type \(reply.reply_type.rawValue), method \(reply.reply.id))"
    }

    private static func describe(_ status: Int32) -> String {
        guard let text = amqp_error_string2(status) else { return "status \(status)" }
        return String(cString: text)
    }
}
