import OrderService
import ServiceRuntime

await ServiceMain.run(service: .orderAPI, schema: { _ in OrderAPIServices.schema }, build: OrderAPIServices.make)
