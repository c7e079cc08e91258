import OrderService
import ServiceRuntime

await ServiceMain.run(service: OrderAPI.service, portVariable: "PORT", defaultPort: 8101, schema: { OrderAPI.schema }, build: OrderAPI.services)
