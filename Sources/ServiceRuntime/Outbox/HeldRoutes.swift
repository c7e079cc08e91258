import AMQPClient
import Foundation
import Logging
import Metrics
import Synchronization

/// The event types whose outbox rows the broker returned as unroutable: no queue is bound
/// where they go (a queue deleted by an operator, say). Their rows stay unsent; the relay
/// leaves them out of its passes, so they do not hold up the others, and tries them again
/// every `recheck`. The service's `/ready` names each route held (without making the service
/// unready: it still takes and relays everything else), and `outbox_unroutable`, by exchange
/// and routing key, counts the events of the last attempt that were returned.
final class HeldRoutes: Sendable {
    struct Outcome {
        let type: String
        let exchange: String
        let routingKey: String
        let result: Result<Void, AMQPError>
    }

    private struct Route {
        let exchange: String
        let routingKey: String
        var returned: Int
        var retryAt: ContinuousClock.Instant
    }

    private let routes = Mutex<[String: Route]>([:])
    private let health: ServiceHealth
    private let logger: Logger
    private let recheck: Duration

    init(health: ServiceHealth, logger: Logger, recheck: Duration = .seconds(2)) {
        self.health = health
        self.logger = logger
        self.recheck = recheck
    }

    /// The event types to leave out of a pass now: held, and not yet due for another try.
    func typesHeldBack() -> [String] {
        let now = ContinuousClock.now
        return routes.withLock { $0.filter { $0.value.retryAt > now }.map(\.key) }
    }

    /// Holds back the types that were returned, and releases those that the broker took.
    func update(after outcomes: [Outcome]) {
        let now = ContinuousClock.now
        var returned: [String: Route] = [:]
        var taken = Set<String>()
        for outcome in outcomes {
            switch outcome.result {
            case .failure(.unroutable):
                returned[outcome.type, default: Route(exchange: outcome.exchange, routingKey: outcome.routingKey, returned: 0, retryAt: now + recheck)].returned += 1
            case .success:
                taken.insert(outcome.type)
            case .failure:
                break
            }
        }
        let (started, released) = routes.withLock { routes in
            let started = returned.keys.filter { routes[$0] == nil }
            for (type, route) in returned { routes[type] = route }
            let released = taken.subtracting(returned.keys).compactMap { type in routes.removeValue(forKey: type).map { (type, $0) } }
            return (started.compactMap { type in returned[type].map { (type, $0) } }, released)
        }
        for (type, route) in returned {
            gauge(route).record(route.returned)
            health.report(Self.part(type), ServiceHealth.Condition(
                "\(route.returned) \(type) event(s) wait in the outbox: the broker routes nothing from exchange '\(route.exchange)' with routing key '\(route.routingKey)' (is its queue declared?)",
                makesUnready: false
            ))
        }
        for (type, route) in started {
            logger.error("outbox events are unroutable and stay in the outbox until a queue takes them", metadata: [
                "event_type": "\(type)", "exchange": "\(route.exchange)", "routing_key": "\(route.routingKey)",
            ])
        }
        for (type, route) in released {
            gauge(route).record(0)
            health.report(Self.part(type), nil)
            logger.info("outbox events are routable again", metadata: ["event_type": "\(type)", "exchange": "\(route.exchange)", "routing_key": "\(route.routingKey)"])
        }
    }

    private func gauge(_ route: Route) -> Gauge {
        Gauge(label: "outbox_unroutable", dimensions: [("exchange", route.exchange), ("routing_key", route.routingKey)])
    }

    private static func part(_ type: String) -> String { "outbox:\(type)" }
}
