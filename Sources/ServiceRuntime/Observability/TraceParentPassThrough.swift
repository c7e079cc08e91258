import Foundation
import Tracing

/// What OpenTelemetry's API does without an SDK: a valid `traceparent` that arrives (on a
/// request or a message) goes on unchanged with everything done on its behalf, and nothing
/// is recorded. Without one, no trace is active and no header is sent.
struct TraceParentPassThrough: Instrument {
    private enum Key: ServiceContextKey {
        typealias Value = String
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: TraceParent.header, from: carrier), Self.isValid(value) else { return }
        context[Key.self] = value
    }

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let value = context[Key.self] else { return }
        injector.inject(value, forKey: TraceParent.header, into: &carrier)
    }

    /// Version 00 of W3C Trace Context: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`,
    /// lowercase, with ids that are not all zeros.
    static func isValid(_ value: String) -> Bool {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [2, 32, 16, 2], parts[0] == "00" else { return false }
        let isHex = parts.allSatisfy { $0.allSatisfy { $0.isHexDigit && !$0.isUppercase } }
        return isHex && parts[1].contains { $0 != "0" } && parts[2].contains { $0 != "0" }
    }
}
