import ServiceRuntime

await TopologyBootstrap.run(service: "inventory-worker")
