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
        let batcher = Batcher<Int>(maximumBatch: 10, maximumWriters: 1) { items in
            try await Task.sleep(for: .milliseconds(20))
            writes.batches.withLock { $0.append(items) }
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

    @Test("a failed write fails its own callers, not the others")
    func failure() async throws {
        struct Refused: Error {}
        let batcher = Batcher<Int>(maximumBatch: 1, maximumWriters: 2) { items in
            if items == [13] { throw Refused() }
        }
        try await batcher.submit(1)
        await #expect(throws: Refused.self) { try await batcher.submit(13) }
        try await batcher.submit(2)
    }
}
