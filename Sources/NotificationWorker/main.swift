import NotificationService
import ServiceRuntime

await ServiceMain.run(
    service: NotificationWorker.service, portVariable: "ADMIN_PORT", defaultPort: 9103,
    schema: { NotificationWorker.schema }, build: NotificationWorker.services
)
