import AMQPClient
import ArgumentParser
import Foundation
import OrderEvents
import ServiceRuntime

/// The operator's tool for dead letters: list, show, replay, discard, stats. It talks to the
/// broker at `RABBITMQ_URL` (and the other `RABBITMQ_*` variables), like the services.
///
/// Exit status: 0 done; 1 something asked for was not found or not replayed (it stays in its
/// dead-letter queue); 2 a bad `RABBITMQ_*` variable; 64 a usage error; 69 the broker or a
/// dead-letter queue is unavailable.
@main
struct DLQInspector: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq-inspector",
        abstract: "List, show, replay and discard the dead letters of the order pipeline.",
        discussion: """
            Reads the dead-letter queues \(Queues.work.map(Queues.deadLetter(of:)).joined(separator: ", ")) \
            at RABBITMQ_URL (default \(BrokerSettings.defaultURL)). Listing never removes anything; \
            a replayed message leaves its queue only after the broker confirmed the copy.
            Exit status: 0 done, 1 something was not found or not replayed, 2 bad RABBITMQ_* \
            variable, 64 usage error, 69 broker or queue unavailable.
            """,
        subcommands: [List.self, Show.self, Replay.self, Discard.self, Stats.self]
    )
}

/// `--queue`: one dead-letter queue, or all of them.
struct QueueOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Only this dead-letter queue.", valueName: "queue"))
    var queue: String?

    var queues: [String] { queue.map { [$0] } ?? Queues.work.map(Queues.deadLetter(of:)) }

    func validate() throws {
        if let queue, Queues.workQueue(ofDeadLetterQueue: queue) == nil {
            throw ValidationError("'\(queue)' is not a dead-letter queue; use one of \(Queues.work.map(Queues.deadLetter(of:)).joined(separator: ", "))")
        }
    }
}

/// Which dead letters a replay or discard takes.
struct Selection: ParsableArguments {
    @Flag(help: "Every dead letter of the queues.")
    var all = false

    @Option(name: .customLong("event-id"), parsing: .upToNextOption, help: ArgumentHelp("The dead letters with these event ids.", valueName: "id"))
    var eventIDs: [String] = []

    @Option(help: ArgumentHelp("The dead letters with this reason: \(DeadLetterReason.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "reason"))
    var reason: String?

    func validate() throws {
        let chosen = [all, !eventIDs.isEmpty, reason != nil].filter { $0 }.count
        guard chosen == 1 else { throw ValidationError("choose exactly one of --all, --event-id and --reason") }
        if let reason, DeadLetterReason(rawValue: reason) == nil {
            throw ValidationError("'\(reason)' is not a reason; use one of \(DeadLetterReason.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func matches(_ letter: StoredDeadLetter) -> Bool {
        if all { return true }
        if let reason { return letter.deadLetter.reason?.rawValue == reason }
        return letter.eventID.map { id in eventIDs.contains { $0.lowercased() == id } } ?? false
    }

    /// Reads the whole queue, hands back what the selection does not take, and returns the rest,
    /// still held.
    func take(from queue: DeadLetterQueue) async throws -> [StoredDeadLetter] {
        let (letters, _) = try await queue.read()
        queue.release(letters.filter { !matches($0) })
        return letters.filter(matches)
    }

    /// Fails with status 1, naming them, when some requested event ids are in none of `found`.
    func requireFound(_ found: [StoredDeadLetter]) throws {
        let ids = Set(found.compactMap(\.eventID))
        let missing = eventIDs.filter { !ids.contains($0.lowercased()) }
        guard missing.isEmpty else {
            complain("not found: \(missing.joined(separator: ", "))")
            throw Exit.incomplete
        }
    }
}

enum Exit {
    static let incomplete = ExitCode(1)
    static let configuration = ExitCode(2)
    static let unavailable = ExitCode(69)
}

/// Prints one line on standard error.
func complain(_ message: String) {
    FileHandle.standardError.write(Data("dlq-inspector: \(message)\n".utf8))
}

/// Opens a connection to the broker of `RABBITMQ_*`, or says in one line why it cannot.
func connect() async throws -> AMQPConnection {
    let settings: BrokerSettings
    do {
        settings = try BrokerSettings(environment: EnvironmentVariables(), service: "dlq-inspector")
    } catch {
        complain("\(error)")
        throw Exit.configuration
    }
    do {
        return try await AMQPConnection.connect(toFirstOf: settings.nodes)
    } catch {
        let nodes = settings.nodes.map(\.address).joined(separator: ", ")
        complain("cannot reach RabbitMQ at \(nodes) (vhost \(settings.nodes[0].virtualHost)): \(error)")
        throw Exit.unavailable
    }
}
