// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let prometheus: Target.Dependency = .product(name: "Prometheus", package: "swift-prometheus")
let nioSSL: Target.Dependency = .product(name: "NIOSSL", package: "swift-nio-ssl")

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
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.36.0"),
    ],
    targets: [
        // System libraries.
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

        // Pure: values and logic, no I/O.
        .target(name: "Glob"),
        .target(name: "RESP", dependencies: [nioCore]),
        .target(name: "PubSubCore", dependencies: ["Glob", nioCore]),
        .target(name: "LookoutCore", dependencies: ["Glob"]),
        .target(name: "LookoutMetrics", dependencies: [prometheus]),

        // Waiting for a stop without the shared concurrency pool (see its file).
        .target(name: "GracefulStop", dependencies: [lifecycle]),

        // Storage and rendering: pure modules and SQLite only.
        .target(
            name: "Store",
            dependencies: ["LookoutCore", "LookoutMetrics", "CSQLite", "GracefulStop", logging, prometheus, lifecycle,
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .target(name: "Reports", dependencies: ["LookoutCore", "Store"]),

        // I/O.
        // Reading PEM certificates and keys, for the relay's listener and the links to Redis.
        .target(name: "TLSSupport", dependencies: [nioSSL]),
        .target(
            name: "Relay",
            dependencies: ["RESP", "PubSubCore", "Glob", "TLSSupport", "LookoutCore", "GracefulStop", nioCore, .product(name: "NIOPosix", package: "swift-nio"), logging, lifecycle,
                           .product(name: "Crypto", package: "swift-crypto"), nioSSL]
        ),
        .target(name: "Observations", dependencies: ["LookoutCore", "LookoutMetrics", nioCore, prometheus]),
        .target(
            name: "Monitor",
            dependencies: ["LookoutCore", "LookoutMetrics", "Observations", "GracefulStop", nioCore, logging, prometheus, lifecycle]
        ),
        .target(
            name: "RelayMonitoring",
            dependencies: ["Relay", "Observations", "LookoutCore", "LookoutMetrics", "GracefulStop", nioCore, prometheus, lifecycle]
        ),
        .target(
            name: "RedisSources",
            dependencies: ["LookoutCore", "Glob", "LookoutMetrics", "Observations", "TLSSupport", "CHiredis", .product(name: "NIOPosix", package: "swift-nio"),
                           nioSSL, .product(name: "NIOTLS", package: "swift-nio"), logging, prometheus, lifecycle]
        ),
        .target(
            name: "Alerting",
            dependencies: [
                "LookoutCore", "LookoutMetrics",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                logging, prometheus, lifecycle, nioCore,
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Leadership",
            dependencies: ["Alerting", "LookoutCore", "LookoutMetrics", "RedisSources", .product(name: "NIOPosix", package: "swift-nio"),
                           logging, prometheus, lifecycle]
        ),
        .target(
            name: "HTTPServer",
            dependencies: [
                "LookoutCore", "Monitor", "Observations", "Reports", "Store", .product(name: "Hummingbird", package: "hummingbird"), logging, nioCore,
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "LookoutHeartbeat",
            dependencies: ["RESP", "GracefulStop", nioCore, .product(name: "NIOPosix", package: "swift-nio"), nioSSL, logging, lifecycle]
        ),

        // Composition.
        .target(
            name: "LookoutConfiguration",
            dependencies: [
                "LookoutCore", "Glob", "Relay", "RESP", "PubSubCore", .product(name: "Yams", package: "Yams"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "LookoutApplication",
            dependencies: [
                "LookoutCore", "LookoutConfiguration", "Relay", "RESP", "Observations", "Monitor", "RelayMonitoring", "RedisSources", "Alerting",
                "Leadership", "Store", "GracefulStop",
                "HTTPServer", "LookoutHeartbeat", logging, lifecycle, nioCore, prometheus, .product(name: "NIOPosix", package: "swift-nio"), nioSSL,
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        // Executables.
        .executableTarget(
            name: "LookoutCLI",
            dependencies: [
                "LookoutApplication", "LookoutConfiguration", "LookoutCore", "LookoutHeartbeat", "Relay", "Store", "Reports",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"), nioCore, .product(name: "NIOHTTP1", package: "swift-nio"),
                logging, lifecycle,
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            plugins: ["BuildInfoPlugin"]
        ),
        // The commit `lookout --version` and `lookout_build_info` report, written at build time.
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .target(name: "CBenchSupport", path: "Sources/CBenchSupport"),
        .executableTarget(
            name: "LookoutBench",
            dependencies: [
                "Glob", "LookoutCore", "Store", "Observations", "Monitor", "RelayMonitoring", "Relay", "PubSubCore", "RESP", "CHiredis", "CBenchSupport", nioCore, prometheus,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // `make soak`: lookout serve under churn and faults for a bounded time, then checked.
        // Test tooling rather than a product: it lives with the tests and is built on their support.
        .executableTarget(name: "LookoutSoak", dependencies: ["LookoutTestSupport", "LookoutCore", "RESP", nioCore], path: "Tests/Soak"),

        // Tests: one target per library module, plus integration tests against real servers.
        .target(
            name: "LookoutTestSupport",
            dependencies: [
                "LookoutApplication", "LookoutConfiguration", "LookoutCore", "RedisSources", "Relay", "Store", "RESP", nioCore, prometheus, lifecycle, logging,
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/Support"
        ),
        .testTarget(name: "GlobTests", dependencies: ["Glob"]),
        .testTarget(name: "RESPTests", dependencies: ["RESP", "LookoutTestSupport"]),
        .testTarget(name: "PubSubCoreTests", dependencies: ["PubSubCore", nioCore]),
        .testTarget(name: "LookoutCoreTests", dependencies: ["LookoutCore", "LookoutTestSupport"]),
        .testTarget(name: "LookoutMetricsTests", dependencies: ["LookoutMetrics", prometheus]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "LookoutCore", "LookoutTestSupport", prometheus, lifecycle, logging]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Store", "LookoutCore", "LookoutTestSupport"], exclude: ["Golden"]),
        .testTarget(
            name: "RelayTests",
            dependencies: ["Relay", "RESP", .product(name: "NIOEmbedded", package: "swift-nio"), logging]
        ),
        .testTarget(name: "MonitorTests", dependencies: ["Monitor", "Observations", "LookoutCore", "LookoutTestSupport", prometheus]),
        .testTarget(name: "ObservationsTests", dependencies: ["Observations", "LookoutCore"]),
        .testTarget(name: "RelayMonitoringTests", dependencies: ["RelayMonitoring", "Observations", "Relay", "LookoutCore"]),
        .testTarget(name: "RedisSourcesTests", dependencies: ["RedisSources", "Observations", "LookoutCore", "LookoutTestSupport", "CHiredis", prometheus]),
        .testTarget(
            name: "AlertingTests",
            dependencies: ["Alerting", "LookoutCore", "LookoutTestSupport", prometheus, logging, lifecycle, .product(name: "NIOHTTP1", package: "swift-nio")]
        ),
        .testTarget(
            name: "HTTPServerTests",
            dependencies: ["HTTPServer", "Monitor", "Observations", "LookoutCore", .product(name: "HummingbirdTesting", package: "hummingbird")]
        ),
        .testTarget(name: "LookoutHeartbeatTests", dependencies: ["LookoutHeartbeat", "LookoutCore", "LookoutTestSupport", "Relay", "RESP", nioCore, lifecycle, logging]),
        .testTarget(name: "LookoutConfigurationTests", dependencies: ["LookoutConfiguration", "LookoutCore", "Relay", "RESP", "PubSubCore", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(
            name: "LookoutApplicationTests",
            dependencies: ["LookoutApplication", "LookoutConfiguration", "LookoutCore", "LookoutTestSupport", "Store", "Alerting", "Monitor", "Observations", "RESP", "GracefulStop", nioCore, lifecycle, logging]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "LookoutApplication", "LookoutConfiguration", "LookoutCore", "LookoutTestSupport", "Relay", "RESP", "RedisSources",
                "Observations", "Monitor", "RelayMonitoring", "Alerting", "Store",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                prometheus, logging, lifecycle,
            ]
        ),
    ]
)

// libFuzzer targets (`make fuzz`): built only with LOOKOUT_FUZZ=1, in their own build folder,
// with `-sanitize=fuzzer,address`; the program hands its arguments to libFuzzer's driver.
if Context.environment["LOOKOUT_FUZZ"] == "1" {
    package.products.append(.executable(name: "lookout-fuzz", targets: ["LookoutFuzz"]))
    package.targets += [
        .systemLibrary(name: "CFuzzSupport", path: "Sources/CFuzzSupport"),
        .executableTarget(name: "LookoutFuzz", dependencies: ["CFuzzSupport", "RESP", "LookoutCore", "LookoutConfiguration", "Glob", nioCore]),
    ]
}

for target in package.targets where target.type != .system && target.type != .plugin && target.name != "CBenchSupport" {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}

// The per-message path (parse, route, fan out, observe) runs on one thread with no shared
// mutable state outside its locks; dynamic exclusivity checks there cost ~7% of the relay's time
// (perf). Release builds of these modules leave them out; debug builds and tests keep them.
for target in package.targets where ["RESP", "PubSubCore", "Relay", "LookoutCore", "Observations", "RelayMonitoring", "Monitor"].contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
}
