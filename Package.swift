// swift-tools-version:6.0
import PackageDescription

// One list for every target: Swift 6 language mode with strict concurrency, plus the
// upcoming features that keep dependencies explicit.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "order-pipeline",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "order-api", targets: ["OrderAPI"]),
        .executable(name: "inventory-worker", targets: ["InventoryWorker"]),
        .executable(name: "notification-worker", targets: ["NotificationWorker"]),
        .executable(name: "dlq-inspector", targets: ["DLQInspector"]),
        .executable(name: "amqp-bench", targets: ["AMQPBenchmark"]),
        .library(name: "AMQPClient", targets: ["AMQPClient"]),
        .library(name: "OrderEvents", targets: ["OrderEvents"]),
        .library(name: "ServiceRuntime", targets: ["ServiceRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
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
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "OrderAPI", dependencies: ["ServiceRuntime"], swiftSettings: swiftSettings),
        .executableTarget(name: "InventoryWorker", dependencies: ["ServiceRuntime"], swiftSettings: swiftSettings),
        .executableTarget(name: "NotificationWorker", dependencies: ["ServiceRuntime"], swiftSettings: swiftSettings),
        .executableTarget(name: "DLQInspector", dependencies: ["ServiceRuntime"], swiftSettings: swiftSettings),
        .executableTarget(name: "AMQPBenchmark", dependencies: ["AMQPClient"], swiftSettings: swiftSettings),
        .testTarget(name: "AMQPClientTests", dependencies: ["AMQPClient"], swiftSettings: swiftSettings),
        .testTarget(name: "OrderEventsTests", dependencies: ["AMQPClient", "OrderEvents"], swiftSettings: swiftSettings),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "AMQPClient",
                "OrderEvents",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
