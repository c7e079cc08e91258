import InventoryService
import ServiceRuntime

await ServiceMain.run(
    service: .inventoryWorker,
    schema: { StockLedger.schema(seeding: try InitialStock()) }, build: InventoryWorker.services
)
