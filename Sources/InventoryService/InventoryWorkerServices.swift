import Hummingbird
import OrderEvents
public import ServiceRuntime
public import ServiceLifecycle

/// The inventory-worker's services: outbox relay, retention, the `order-events` consumer
/// and the admin HTTP server (`/health`, `/ready`, `/metrics`, `/inventory`).
public enum InventoryWorkerServices {
    public static func make(_ resources: ServiceResources) throws -> [any Service] {
        let (settings, database, logger) = (resources.settings, resources.database, resources.logger)
        let router = resources.makeRouter()
        router.get("/inventory") { _, _ in
            JSONResponse.make(.ok, ["items": try await StockLedger.items(database)])
        }
        router.get("/inventory/{item}") { _, context in
            let name = try context.parameters.require("item")
            guard let item = try await StockLedger.item(name, database) else {
                return JSONResponse.error(.notFound, "unknown item '\(name)'", field: "item")
            }
            return JSONResponse.make(.ok, item)
        }
        return [
            OutboxRelay(resources: resources),
            RetentionService(database: database, retention: settings.retention, logger: logger),
            EventConsumer(queue: Queues.orderEvents, handler: ReservationHandler(), resources: resources),
            resources.httpServer(router),
        ]
    }
}
