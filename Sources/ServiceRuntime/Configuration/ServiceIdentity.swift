/// An executable of the pipeline and its HTTP port (CONTRACT §1): the API listens on `PORT`,
/// the workers serve `/health`, `/ready` and `/metrics` on `ADMIN_PORT`.
public struct ServiceIdentity: Sendable, Hashable {
    public let name: String
    public let portVariable: String
    public let defaultPort: Int

    public init(name: String, portVariable: String, defaultPort: Int) {
        self.name = name
        self.portVariable = portVariable
        self.defaultPort = defaultPort
    }

    public static let orderAPI = ServiceIdentity(name: "order-api", portVariable: "PORT", defaultPort: 8101)
    public static let inventoryWorker = ServiceIdentity(name: "inventory-worker", portVariable: "ADMIN_PORT", defaultPort: 9102)
    public static let notificationWorker = ServiceIdentity(name: "notification-worker", portVariable: "ADMIN_PORT", defaultPort: 9103)
}
