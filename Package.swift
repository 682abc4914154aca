// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "lookout",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lookout", targets: ["LookoutCLI"]),
        .executable(name: "lookout-bench", targets: ["LookoutBench"]),
        .library(name: "LookoutHeartbeat", targets: ["LookoutHeartbeat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            path: "Sources/CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            path: "Sources/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "RESP",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "PubSubCore",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "Relay",
            dependencies: [
                "RESP", "PubSubCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Monitor",
            dependencies: [
                "Relay", "PubSubCore", "CHiredis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "HTTPServer",
            dependencies: [
                "Monitor",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Alerting",
            dependencies: [
                "Monitor",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Store",
            dependencies: [
                "CSQLite", "Monitor", "Alerting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Reports",
            dependencies: ["Store", "Monitor", "Alerting", "LookoutConfiguration"]
        ),
        .target(
            name: "LookoutHeartbeat",
            dependencies: [
                "RESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "LookoutConfiguration",
            dependencies: [
                "Relay", "RESP", "PubSubCore", "Monitor",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "LookoutCLI",
            dependencies: [
                "Relay", "RESP", "PubSubCore", "Monitor", "HTTPServer", "LookoutConfiguration", "Alerting", "LookoutHeartbeat", "Store", "Reports",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .target(name: "CBenchSupport", path: "Sources/CBenchSupport"),
        .executableTarget(
            name: "LookoutBench",
            dependencies: [
                "Store", "Monitor", "Relay", "PubSubCore", "RESP", "CHiredis", "CBenchSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(name: "LookoutTestSupport", path: "Tests/Support"),
        .testTarget(name: "RESPTests", dependencies: ["RESP", "LookoutTestSupport"]),
        .testTarget(name: "PubSubCoreTests", dependencies: ["PubSubCore"]),
        .testTarget(
            name: "RelayTests",
            dependencies: [
                "Relay", "RESP",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "LookoutConfigurationTests", dependencies: ["LookoutConfiguration", "Monitor", "Relay", "PubSubCore", "RESP"]),
        .testTarget(name: "AlertingTests", dependencies: ["Alerting", "Monitor"]),
        .testTarget(
            name: "StoreTests",
            dependencies: ["Store", "Reports", "Monitor", "Alerting", .product(name: "Prometheus", package: "swift-prometheus")],
            exclude: ["Golden"]
        ),
        .testTarget(
            name: "MonitorTests",
            dependencies: [
                "Monitor", "HTTPServer", "Relay", "LookoutTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Relay", "RESP", "CHiredis", "Monitor", "HTTPServer", "Alerting", "Store",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)

for target in package.targets where target.type != .system && target.name != "CBenchSupport" {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}

// The per-message path (parse, route, fan out, observe) runs on one thread with no shared
// mutable state outside its locks; dynamic exclusivity checks there cost ~7% of the relay's time
// (perf). Release builds of these modules leave them out; debug builds and tests keep them.
for target in package.targets where ["RESP", "PubSubCore", "Relay", "Monitor"].contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
}
