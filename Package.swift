// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "poold",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "poold", targets: ["poold"]),
        .executable(name: "poolconsole", targets: ["poolconsole"]),
        .executable(name: "relaybench", targets: ["relaybench"]),
        .library(name: "Shared", targets: ["Shared"]),
        .library(name: "ConsoleCore", targets: ["ConsoleCore"]),
        .library(name: "EtcdClient", targets: ["EtcdClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // The pure core: wire codec, configuration, auth, session state machines. No sockets, no clocks.
        .target(
            name: "Shared",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                // AES._CBC for pool_passwd's AES entries (pg_enc-compatible); BoringSSL underneath.
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            // The relay and routing run per statement: no dynamic exclusivity checks in release builds, and
            // their small accessors inlined into poold's handlers (no copy of the relay per reply).
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"],
                                         .when(configuration: .release))]
        ),
        // The I/O shell: listeners, channel handlers, backend pool, services.
        .executableTarget(
            name: "poold",
            dependencies: [
                "Shared",
                "EtcdClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        // The pure core's per-statement cost, timed without sockets (bench/README.md).
        .executableTarget(
            name: "relaybench",
            dependencies: ["Shared", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        // A small etcd v3 client over the JSON gRPC gateway on HTTP/1.1 (leases, txn, watch, endpoint failover).
        // Nothing of poold's: it can be tested, and reused, on its own.
        .target(
            name: "EtcdClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The console's pure part: state, keys and rendering to a text grid (tested without a terminal).
        .target(name: "ConsoleCore"),
        // ncurses (wide characters), linked directly: SwiftPM drops pkg-config's -D flags.
        .systemLibrary(name: "CNcurses", providers: [.apt(["libncurses-dev"])]),
        // The operator's console: the ncurses TUI and non-interactive commands over the admin socket.
        .executableTarget(
            name: "poolconsole",
            dependencies: ["Shared", "ConsoleCore", "CNcurses", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "SharedTests",
            dependencies: ["Shared", "ConsoleCore", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["Console/Fixtures"]  // read by path (#filePath), not bundled
        ),
        // The etcd client's pure parts (JSON codec, watch stream splitter, endpoint rotation), without sockets.
        .testTarget(name: "EtcdClientTests", dependencies: ["EtcdClient"]),
        .testTarget(name: "IntegrationTests", dependencies: ["Shared", "EtcdClient"]),
        // The channel handlers on NIO's EmbeddedChannel: split reads, garbage, client exit, backpressure.
        .testTarget(
            name: "pooldTests",
            dependencies: ["poold", "Shared", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "Logging", package: "swift-log")]
        ),
    ]
)
