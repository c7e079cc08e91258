import Foundation
import Tracing

/// The W3C `traceparent` that links the services' spans into one trace: in the `traceparent`
/// header of AMQP messages (CONTRACT §3) and in the outbox rows between a transaction and its
/// publication.
public enum TraceParent {
    public static let header = "traceparent"

    /// The `traceparent` of the current span, or nil when no trace is active.
    public static var current: String? {
        ServiceContext.current.flatMap(value(of:))
    }

    /// The `traceparent` that continues `context`, or nil when it holds no span.
    static func value(of context: ServiceContext) -> String? {
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: TraceHeaders())
        return carrier[header]
    }

    /// The context to continue from a `traceparent`; a new trace starts when there is none.
    static func context(continuing traceparent: String?) -> ServiceContext {
        var context = ServiceContext.topLevel
        if let traceparent {
            InstrumentationSystem.instrument.extract([header: traceparent], into: &context, using: TraceHeaders())
        }
        return context
    }
}

/// Trace headers held as a plain dictionary, for the instrument to read and write.
struct TraceHeaders: Extractor, Injector {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
