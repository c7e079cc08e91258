public import Hummingbird

extension ServiceSettings {
    public var httpConfiguration: ApplicationConfiguration {
        ApplicationConfiguration(address: .hostname(bindAddress, port: httpPort), serverName: service)
    }
}
