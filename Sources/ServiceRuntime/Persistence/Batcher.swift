import Synchronization

/// Writes what arrives while earlier writes are in flight together: many callers share one
/// transaction and one commit (group commit, done by the application). Each caller resumes
/// once the write that holds its item has committed, with its own item's output, or with the
/// error that failed the write.
public final class Batcher<Item: Sendable, Output: Sendable>: Sendable {
    private struct Waiting {
        let item: Item
        let continuation: CheckedContinuation<Output, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var writers = 0
    }

    private let write: @Sendable ([Item]) async throws -> [Output]
    private let maximumBatch: Int
    private let maximumWriters: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - maximumBatch: at most this many items per write.
    ///   - maximumWriters: at most this many writes at once; an item that finds them all busy
    ///     waits for the next batch.
    ///   - write: writes the items and returns one output per item, in their order.
    public init(maximumBatch: Int, maximumWriters: Int, write: @escaping @Sendable ([Item]) async throws -> [Output]) {
        self.write = write
        self.maximumBatch = maximumBatch
        self.maximumWriters = maximumWriters
    }

    /// Returns `item`'s output once it is written; throws what the write threw.
    public func submit(_ item: Item) async throws -> Output {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Output, any Error>) in
            let startsWriter = state.withLock { state in
                state.waiting.append(Waiting(item: item, continuation: continuation))
                guard state.writers < maximumWriters else { return false }
                state.writers += 1
                return true
            }
            if startsWriter { Task { await self.writeWhileWaiting() } }
        }
    }

    private func writeWhileWaiting() async {
        while true {
            let batch = state.withLock { state in
                let batch = Array(state.waiting.prefix(maximumBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.writers -= 1 }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let outputs = try await write(batch.map(\.item))
                precondition(outputs.count == batch.count, "a batch write returns one output per item")
                for (waiting, output) in zip(batch, outputs) { waiting.continuation.resume(returning: output) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }
}
