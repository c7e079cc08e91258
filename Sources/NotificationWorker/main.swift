import NotificationService
import ServiceRuntime

await ServiceMain.run(
    service: .notificationWorker,
    schema: { _ in NotificationWorkerServices.schema }, build: NotificationWorkerServices.make
)
