import Synchronization

/// Items handed from any number of producers to one consumer task, which sleeps on `ready`
/// until items wait: one signal however many arrive meanwhile.
final class Handoff<Element: Sendable>: Sendable {
    let ready: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation
    private let items = Mutex<[Element]>([])
    /// At most this many items wait; beyond it, new ones are dropped.
    private let capacity: Int

    init(capacity: Int = .max) {
        self.capacity = capacity
        (ready, signal) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Adds `new` (what fits under the capacity) and wakes the consumer.
    func add(_ new: [Element]) {
        guard !new.isEmpty else { return }
        items.withLock { items in
            items.append(contentsOf: new.prefix(max(0, capacity - items.count)))
        }
        signal.yield()
    }

    /// Up to `count` waiting items, in the order they were added.
    func take(upTo count: Int = .max) -> [Element] {
        items.withLock { items in
            let taken = Array(items.prefix(count))
            items.removeFirst(taken.count)
            return taken
        }
    }
}
