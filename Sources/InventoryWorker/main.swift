import InventoryService
import ServiceRuntime

await ServiceMain.run(
    service: InventoryWorker.service, portVariable: "ADMIN_PORT", defaultPort: 9102,
    schema: { StockLedger.schema(seeding: try InitialStock()) }, build: InventoryWorker.services
)
