import InventoryService
import ServiceRuntime

await ServiceMain.run(
    service: .inventoryWorker,
    schema: { StockLedger.schema(seeding: try InitialStock(environment: $0)) }, build: InventoryWorkerServices.make
)
