import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A unit of work for the connection's thread: `run` executes it there, `fail` answers it
/// when the connection is gone before it ran. Frames leave in the order their commands were
/// submitted, except that acks (`isAck`) in a row are gathered into as few frames as can be
/// (`ConnectionCore.writeAcks`): the acks asked for before any other command are written first.
struct Command: Sendable {
    let run: @Sendable (ConnectionCore) -> Void
    let fail: @Sendable (AMQPError) -> Void
    var isAck = false
}

/// The thread a connection owns. librabbitmq is not thread-safe, so every C call of one
/// connection runs here, never on Swift's cooperative pool. Callers post commands to a
/// mailbox and wake the thread through a pipe; the thread sleeps in `poll` on that pipe and
/// the socket together, so commands (acks, publishes) reach the broker at once and frames
/// from the broker are handled as they arrive — there is no polling interval.
final class ConnectionExecutor: Sendable {
    private struct Mailbox {
        var commands: [Command] = []
        var closeError: AMQPError?
        /// Whether the thread is (about to be) asleep in poll, so the next command must wake it.
        var sleeping = false
        var closeWaiters: [CheckedContinuation<AMQPError, Never>] = []
    }

    private let mailbox = Mutex(Mailbox())
    /// The connection's socket while it is open, for `abort`.
    private let socket = Mutex<Int32?>(nil)
    private let blockedByBroker = Atomic<Bool>(false)
    private let wakeRead: Int32
    private let wakeWrite: Int32

    init() throws(AMQPError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw .library("cannot create a wake-up pipe: errno \(errno)") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Starts the thread, which opens the connection and reports the outcome (the broker's
    /// server properties, or why it failed) before it starts serving commands.
    func start(
        _ configuration: AMQPConfiguration,
        logger: Logger,
        opened: @escaping @Sendable (Result<AMQPTable, AMQPError>) -> Void
    ) {
        let name = "amqp:\(configuration.connectionName)"
        let thread = Thread { [self] in
            // Named from inside, so that Linux sees it too (it keeps 15 bytes: the end says
            // which of the service's connections this is; a character cut in two is replaced).
            Thread.current.name = String(decoding: name.utf8.suffix(15), as: UTF8.self)
            let core = ConnectionCore(configuration: configuration, logger: logger) { [self] blocked in
                blockedByBroker.store(blocked, ordering: .relaxed)
            }
            do throws(AMQPError) {
                try core.open()
            } catch {
                finish(with: error)
                opened(.failure(error))
                return
            }
            socket.withLock { $0 = core.socketDescriptor }
            opened(.success(core.serverProperties))
            serve(core)
        }
        thread.start()
    }

    var closeError: AMQPError? { mailbox.withLock { $0.closeError } }

    /// Whether the broker has blocked the connection for a resource alarm.
    var isBlocked: Bool { blockedByBroker.load(ordering: .relaxed) }

    /// Shuts the socket down from outside the connection's thread, for a thread that a broker
    /// which stopped reading holds inside a write: the write fails, and the thread ends the
    /// connection. Does nothing once the connection has ended.
    func abort() {
        socket.withLock { socket in
            if let socket { _ = shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }

    func submit(_ command: Command) {
        let outcome: Result<Bool, AMQPError> = mailbox.withLock { mailbox in
            if let error = mailbox.closeError { return .failure(error) }
            mailbox.commands.append(command)
            defer { mailbox.sleeping = false }
            return .success(mailbox.sleeping)
        }
        switch outcome {
        case .failure(let error):
            command.fail(error)
        case .success(true):
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        case .success(false):
            break  // the thread is awake and looks at the mailbox before it sleeps
        }
    }

    /// Runs `body` on the connection's thread and returns its result.
    func perform<T: Sendable>(_ body: @escaping @Sendable (ConnectionCore) throws(AMQPError) -> T) async throws -> T {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
            submit(Command(
                run: { core in
                    do throws(AMQPError) {
                        continuation.resume(returning: try body(core))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                },
                fail: { continuation.resume(throwing: $0) }
            ))
        }
    }

    /// Waits until the connection is finished and returns why.
    func closed() async -> AMQPError {
        await withCheckedContinuation { continuation in
            let error: AMQPError? = mailbox.withLock { mailbox in
                if let error = mailbox.closeError { return error }
                mailbox.closeWaiters.append(continuation)
                return nil
            }
            if let error { continuation.resume(returning: error) }
        }
    }

    private func serve(_ core: ConnectionCore) {
        var fds = [
            pollfd(fd: core.socketDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        var batch: [Command] = []
        while core.isOpen {
            batch = mailbox.withLock { mailbox in
                defer { mailbox.commands = batch }
                return mailbox.commands
            }
            for command in batch {
                if let error = core.closeError {
                    command.fail(error)
                    continue
                }
                if !command.isAck { core.writeAcks() }
                command.run(core)
            }
            batch.removeAll(keepingCapacity: true)
            core.writeAcks()
            core.processIncomingFrames()
            guard core.isOpen else { break }
            let idle = mailbox.withLock { mailbox in
                mailbox.sleeping = mailbox.commands.isEmpty
                return mailbox.sleeping
            }
            guard idle else { continue }
            fds[0].revents = 0
            fds[1].revents = 0
            let ready = poll(&fds, 2, core.pollTimeoutMilliseconds)
            mailbox.withLock { $0.sleeping = false }
            if ready > 0, fds[0].revents != 0 { core.noteInboundTraffic() }
            if ready > 0, fds[1].revents != 0 { drainWakePipe() }
            core.checkTimers()
        }
        finish(with: core.closeError ?? .connectionClosed(code: nil, reason: "closed"))
        socket.withLock { $0 = nil }  // before the descriptor is closed, so abort never reaches another
        core.destroy()
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    private func finish(with error: AMQPError) {
        let (commands, waiters) = mailbox.withLock { mailbox in
            mailbox.closeError = error
            defer {
                mailbox.commands = []
                mailbox.closeWaiters = []
            }
            return (mailbox.commands, mailbox.closeWaiters)
        }
        for command in commands { command.fail(error) }
        for waiter in waiters { waiter.resume(returning: error) }
    }
}
