import ServiceRuntime

await TopologyBootstrap.run(service: "notification-worker")
