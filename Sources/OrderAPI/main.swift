import ServiceRuntime

await TopologyBootstrap.run(service: "order-api")
