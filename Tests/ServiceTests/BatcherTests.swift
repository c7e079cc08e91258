import ServiceRuntime
import Synchronization
import Testing

@Suite("Batcher: group commit")
struct BatcherTests {
    final class Writes: Sendable {
        let batches = Mutex<[[Int]]>([])
    }

    @Test("items that arrive together are written together; every caller resumes after its write")
    func batches() async throws {
        let writes = Writes()
        let batcher = Batcher<Int, Void>(maximumBatch: 10, maximumWriters: 1) { items in
            try await Task.sleep(for: .milliseconds(20))
            writes.batches.withLock { $0.append(items) }
            return items.map { _ in () }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for item in 0..<50 {
                group.addTask {
                    try await batcher.submit(item)
                    // Resumed only once its write is done.
                    #expect(writes.batches.withLock { $0.contains { $0.contains(item) } })
                }
            }
            try await group.waitForAll()
        }
        let batches = writes.batches.withLock { $0 }
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<50))
        #expect(batches.allSatisfy { $0.count <= 10 })
        #expect(batches.count < 50, "concurrent items shared writes")
    }

    @Test("each caller gets its own item's output")
    func outputs() async throws {
        let batcher = Batcher<Int, String>(maximumBatch: 10, maximumWriters: 1) { items in
            try await Task.sleep(for: .milliseconds(10))
            return items.map { "item \($0)" }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for item in 0..<30 {
                group.addTask {
                    let output = try await batcher.submit(item)
                    #expect(output == "item \(item)")
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("a failed write fails its own callers, not the others")
    func failure() async throws {
        struct Refused: Error {}
        let batcher = Batcher<Int, Void>(maximumBatch: 1, maximumWriters: 2) { items in
            if items == [13] { throw Refused() }
            return items.map { _ in () }
        }
        try await batcher.submit(1)
        await #expect(throws: Refused.self) { try await batcher.submit(13) }
        try await batcher.submit(2)
    }
}
