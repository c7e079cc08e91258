import NotificationService
import ServiceRuntime

await ServiceMain.run(
    service: .notificationWorker,
    schema: { NotificationWorker.schema }, build: NotificationWorker.services
)
