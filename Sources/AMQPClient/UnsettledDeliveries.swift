/// The deliveries of one channel that are not settled yet, in delivery order, and the acks
/// asked for since they were last written. Acks that cover the oldest unsettled deliveries
/// leave as one `basic.ack` with `multiple`; any others one by one. A consumer that handles a
/// batch together acks it with one frame instead of one per message.
struct UnsettledDeliveries {
    /// One `basic.ack` to write.
    struct Ack: Equatable {
        let tag: UInt64
        let multiple: Bool
    }

    /// Delivery tags in the order the broker sent them (so ascending).
    private var tags: [UInt64] = []
    private var asked: [UInt64] = []

    var hasAcksToWrite: Bool { !asked.isEmpty }

    mutating func delivered(_ tag: UInt64) { tags.append(tag) }

    mutating func ack(_ tag: UInt64) { asked.append(tag) }

    /// A delivery settled by a nack or a reject, written at once.
    mutating func settledOtherwise(_ tag: UInt64) {
        tags.removeAll { $0 == tag }
    }

    /// The acks asked for, as the frames to write now; forgets those deliveries.
    mutating func takeAcks() -> [Ack] {
        guard !asked.isEmpty else { return [] }
        let acked = Set(asked)
        asked = []
        let covered = tags.prefix { acked.contains($0) }.count
        var frames: [Ack] = []
        if covered > 0 { frames.append(Ack(tag: tags[covered - 1], multiple: covered > 1)) }
        let coveredTags = Set(tags.prefix(covered))
        frames += acked.subtracting(coveredTags).sorted().map { Ack(tag: $0, multiple: false) }
        tags = tags.dropFirst(covered).filter { !acked.contains($0) }
        return frames
    }
}
