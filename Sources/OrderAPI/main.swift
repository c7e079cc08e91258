import OrderService
import ServiceRuntime

await ServiceMain.run(service: .orderAPI, schema: { OrderAPI.schema }, build: OrderAPI.services)
