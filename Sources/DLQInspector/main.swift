import ServiceRuntime

await TopologyBootstrap.run(service: "dlq-inspector")
