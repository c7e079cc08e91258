// swift-tools-version:6.1
import PackageDescription

// One list for every target: Swift 6 language mode with strict concurrency, plus the
// upcoming features that keep dependencies explicit.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let postgres = Target.Dependency.product(name: "PostgresNIO", package: "postgres-nio")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let tracing = Target.Dependency.product(name: "Tracing", package: "swift-distributed-tracing")

let package = Package(
    name: "order-pipeline",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "order-api", targets: ["OrderAPI"]),
        .executable(name: "inventory-worker", targets: ["InventoryWorker"]),
        .executable(name: "notification-worker", targets: ["NotificationWorker"]),
        .executable(name: "dlq-inspector", targets: ["DLQInspector"]),
        .executable(name: "amqp-bench", targets: ["AMQPBenchmark"]),
        .executable(name: "order-load", targets: ["OrderLoad"]),
        .library(name: "AMQPClient", targets: ["AMQPClient"]),
        .library(name: "OrderEvents", targets: ["OrderEvents"]),
        .library(name: "ServiceRuntime", targets: ["ServiceRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // OTLP over HTTP only: the gRPC exporter would double the dependencies' build time.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .target(
            name: "AMQPClient",
            dependencies: [
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
                metrics,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "OrderEvents",
            dependencies: ["AMQPClient"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ServiceRuntime",
            dependencies: [
                "AMQPClient",
                "OrderEvents",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                postgres,
                hummingbird,
                metrics,
                tracing,
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "OrderService",
            dependencies: [
                "ServiceRuntime", "OrderEvents", "AMQPClient", hummingbird, postgres, metrics, tracing,
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            resources: [.embedInCode("Resources/board.html"), .embedInCode("Resources/openapi.json")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "InventoryService",
            dependencies: ["ServiceRuntime", "OrderEvents", "AMQPClient", hummingbird, postgres],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotificationService",
            dependencies: [
                "ServiceRuntime", "OrderEvents", "AMQPClient", hummingbird, postgres,
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "OrderAPI", dependencies: ["OrderService", "ServiceRuntime"], swiftSettings: swiftSettings),
        .executableTarget(name: "InventoryWorker", dependencies: ["InventoryService", "ServiceRuntime"], swiftSettings: swiftSettings),
        .executableTarget(name: "NotificationWorker", dependencies: ["NotificationService", "ServiceRuntime"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "DLQInspector",
            dependencies: ["AMQPClient", "OrderEvents", "ServiceRuntime", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "AMQPBenchmark", dependencies: ["AMQPClient"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "OrderLoad",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "AMQPClientTests", dependencies: ["AMQPClient"], swiftSettings: swiftSettings),
        .testTarget(name: "OrderEventsTests", dependencies: ["AMQPClient", "OrderEvents"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ServiceTests",
            dependencies: [
                "OrderService", "InventoryService", "ServiceRuntime", "AMQPClient", "OrderEvents", hummingbird, tracing,
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TestSupport", dependencies: ["ServiceRuntime", .product(name: "Yams", package: "Yams")], path: "Tests/TestSupport", swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "AMQPClient", "OrderEvents", "ServiceRuntime", "TestSupport", postgres, hummingbird,
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeploymentTests",
            dependencies: [
                "AMQPClient", "OrderEvents", "ServiceRuntime", "TestSupport",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "AMQPClient",
                "InventoryService",
                "OrderEvents",
                "OrderService",
                "ServiceRuntime",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                hummingbird,
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                postgres,
                tracing,
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
