import AMQPClient
import Logging

extension ReconnectingConnection {
    /// After the broker refused a publish because what it goes to is gone: declares the
    /// topology again, so that the exchange comes back with its bindings (or the queue, bound),
    /// and the caller publishes again. An operator who deletes an exchange deletes its
    /// bindings with it and cancels no consumer, and nobody consumes a retry or dead-letter
    /// queue, so no consumer would notice; the publisher is the one that finds out.
    func restoreTopology(after error: AMQPError, logger: Logger) async {
        logger.warning("what this service publishes to is gone; declaring the topology again", metadata: ["error": "\(error)"])
        do {
            try await withTimeout(.seconds(10)) { try await self.redeclare() }
        } catch {
            logger.error("cannot declare the topology again; what waits to be published is tried again later", metadata: ["error": "\(error)"])
        }
    }
}
