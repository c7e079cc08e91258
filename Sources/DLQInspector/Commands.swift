import AMQPClient
import ArgumentParser
import Foundation
import OrderEvents

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List dead letters, without removing any.")

    @OptionGroup var queueOption: QueueOption

    @Option(help: "At most this many per queue.")
    var limit = 50

    @Flag(help: "Print one JSON document.")
    var json = false

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        try await withBroker { connection in
            var documents: [JSONValue] = []
            for name in queueOption.queues {
                let queue = DeadLetterQueue(name: name, connection: connection)
                let (letters, total) = try await queue.peek(limit: limit)
                if json {
                    documents.append(.object(["queue": .string(name), "messages": .integer(Int64(total)), "dead_letters": .array(letters.map(\.summary))]))
                    continue
                }
                print("\(name): \(total) dead letter\(total == 1 ? "" : "s")")
                for letter in letters { print(letter.lines.map { "  " + $0 }.joined(separator: "\n")) }
                if total > letters.count { print("  … and \(total - letters.count) more (--limit)") }
            }
            if json { print(JSONValue.object(["queues": .array(documents)]).text()) }
        }
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one dead letter whole: properties, headers and body, as JSON.")

    @OptionGroup var queueOption: QueueOption

    @Argument(help: "The event id (the message id) of the dead letter.")
    var eventID: String

    func run() async throws {
        let found = try await withBroker { connection in
            var found: [StoredDeadLetter] = []
            for name in queueOption.queues {
                let queue = DeadLetterQueue(name: name, connection: connection)
                let (letters, _) = try await queue.peek()
                found += letters.filter { $0.eventID == eventID.lowercased() }
            }
            return found
        }
        guard !found.isEmpty else {
            complain("no dead letter with event id \(eventID) in \(queueOption.queues.joined(separator: ", "))")
            throw Exit.incomplete
        }
        for letter in found { print(letter.whole.text()) }
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish dead letters again to the queue that dead-lettered them, then remove them.",
        discussion: """
            Each copy keeps its event id, so consumers that processed it before ignore it, and \
            counts the replay in x-replays. A message leaves its dead-letter queue only after \
            the broker confirmed its copy; one that cannot be replayed stays where it is.
            """
    )

    @OptionGroup var selection: Selection
    @OptionGroup var queueOption: QueueOption

    @Flag(help: "Show what would be replayed, and change nothing.")
    var dryRun = false

    func run() async throws {
        var complete = true
        var found: [StoredDeadLetter] = []
        try await withBroker { connection in
            for name in queueOption.queues {
                let queue = DeadLetterQueue(name: name, connection: connection)
                let chosen = try await selection.take(from: queue)
                found += chosen
                if dryRun {
                    queue.release(chosen)
                    print("\(name): would replay \(chosen.count)")
                    for letter in chosen {
                        let (exchange, routingKey) = letter.replayTarget
                        print("  \(letter.eventType ?? "?") event \(letter.eventID ?? "-") → \(exchange) / \(routingKey)")
                    }
                    continue
                }
                let failed = try await replay(chosen, from: queue)
                complete = complete && failed == 0
                print("\(name): replayed \(chosen.count - failed) of \(chosen.count)" + (failed > 0 ? "; \(failed) stay in the queue" : ""))
            }
        }
        try selection.requireFound(found)
        if !complete { throw Exit.incomplete }
    }

    /// Publishes the copies in pipelined chunks; removes each original once its copy is
    /// confirmed and hands back those whose copy failed. Returns how many failed.
    private func replay(_ letters: [StoredDeadLetter], from queue: DeadLetterQueue) async throws -> Int {
        let connection = queue.connection
        var failed = 0
        var done = 0
        for chunk in stride(from: 0, to: letters.count, by: 200).map({ letters[$0..<min($0 + 200, letters.count)] }) {
            let outcomes = await withTaskGroup(of: (StoredDeadLetter, (any Error)?).self) { group in
                for letter in chunk {
                    group.addTask {
                        do {
                            try await connection.publish([letter.replay])
                            return (letter, nil)
                        } catch {
                            return (letter, error)
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            for (letter, error) in outcomes {
                guard let error else { continue }
                failed += 1
                complain("could not replay event \(letter.eventID ?? "-") to \(letter.replayTarget): \(error); it stays in \(queue.name)")
            }
            queue.release(outcomes.filter { $0.1 != nil }.map(\.0))
            try await queue.remove(outcomes.filter { $0.1 == nil }.map(\.0))
            done += chunk.count
            if letters.count > 200 { complain("\(queue.name): \(done) of \(letters.count)") }
        }
        return failed
    }
}

struct Discard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove dead letters for good.")

    @OptionGroup var selection: Selection
    @OptionGroup var queueOption: QueueOption

    @Flag(help: "Confirm that the messages are to be deleted.")
    var yes = false

    func validate() throws {
        guard yes else { throw ValidationError("discard deletes dead letters for good; add --yes to confirm") }
    }

    func run() async throws {
        var found: [StoredDeadLetter] = []
        try await withBroker { connection in
            for name in queueOption.queues {
                let queue = DeadLetterQueue(name: name, connection: connection)
                let chosen = try await selection.take(from: queue)
                try await queue.remove(chosen)
                found += chosen
                print("\(name): discarded \(chosen.count)")
            }
        }
        try selection.requireFound(found)
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Count dead letters per queue and reason.")

    @Flag(help: "Print one JSON document.")
    var json = false

    func run() async throws {
        let counts = try await withBroker { connection in
            var counts: [(queue: String, total: Int, reasons: [String: Int])] = []
            for name in Queues.work.map(Queues.deadLetter(of:)) {
                let queue = DeadLetterQueue(name: name, connection: connection)
                let (letters, total) = try await queue.peek()
                let reasons = letters.reduce(into: [String: Int]()) { $0[$1.deadLetter.reason?.rawValue ?? "unknown", default: 0] += 1 }
                counts.append((name, total, reasons))
            }
            return counts
        }
        if json {
            print(JSONValue.object(["queues": .array(counts.map { count in
                .object(["queue": .string(count.queue), "messages": .integer(Int64(count.total)), "reasons": .object(count.reasons.mapValues { .integer(Int64($0)) })])
            })]).text())
            return
        }
        let width = counts.map(\.queue.count).max() ?? 0
        print("queue".padding(toLength: width, withPad: " ", startingAt: 0) + "  messages  reasons")
        for count in counts {
            let reasons = count.reasons.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let total = String(count.total)
            print(count.queue.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + String(repeating: " ", count: max(0, 8 - total.count)) + total + "  " + reasons)
        }
    }
}
