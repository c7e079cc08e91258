/// Thrown by a handler for an event it can never process; the event is dead-lettered.
public struct UnprocessableEvent: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}
