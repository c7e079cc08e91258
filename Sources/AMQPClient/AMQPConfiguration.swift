/// Where and how to connect.
public struct AMQPConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var virtualHost: String
    /// Heartbeat interval in seconds that we propose; 0 turns heartbeats off.
    public var heartbeat: Int
    /// Shown as the connection's name in the management UI; the service name is a good choice.
    public var connectionName: String
    /// How long opening the TCP connection may take, in seconds.
    public var connectTimeout: Int

    /// `host:port`, as logs and errors name the node.
    public var address: String { "\(host):\(port)" }

    public init(
        host: String = "127.0.0.1",
        port: Int = 5672,
        user: String = "guest",
        password: String = "guest",
        virtualHost: String = "/",
        heartbeat: Int = 30,
        connectionName: String,
        connectTimeout: Int = 5
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.virtualHost = virtualHost
        self.heartbeat = heartbeat
        self.connectionName = connectionName
        self.connectTimeout = connectTimeout
    }

    /// Parses `amqp://user:password@host:port/vhost`, percent-decoding each part
    /// (`%2f` is the default virtual host `/`). Missing parts keep their defaults.
    public init(url: String, connectionName: String) throws(AMQPError) {
        self.init(connectionName: connectionName)
        guard url.hasPrefix("amqp://") else { throw .invalidURL("\(url) (expected amqp://user:password@host:port/vhost)") }
        var rest = Substring(url.dropFirst("amqp://".count))

        var authority = rest
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let vhost = Self.percentDecoded(path) else { throw .invalidURL(url) }
                virtualHost = vhost
            }
        }
        rest = authority
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.percentDecoded(parts[0]) else { throw .invalidURL(url) }
            user = name
            if parts.count == 2 {
                guard let secret = Self.percentDecoded(parts[1]) else { throw .invalidURL(url) }
                password = secret
            }
        }
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else {
                throw .invalidURL("\(url) (bad port)")
            }
            port = number
            rest = rest[..<colon]
        }
        if rest.hasPrefix("["), rest.hasSuffix("]") { rest = rest.dropFirst().dropLast() }
        if !rest.isEmpty { host = String(rest) }
    }

    private static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let hexStart = utf8.index(after: index)
                guard let hexEnd = utf8.index(hexStart, offsetBy: 2, limitedBy: utf8.endIndex),
                      let value = UInt8(String(decoding: utf8[hexStart..<hexEnd], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
                index = hexEnd
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
