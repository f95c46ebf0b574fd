// swift-tools-version:6.0
import PackageDescription

// libFuzzer harnesses for poold's pure decoders; scripts/fuzz.sh builds them with `-sanitize=fuzzer,address` and
// runs each for a fixed number of inputs (share/doc/fuzzing.md). A package of its own, so the root package never
// sees the sanitizer. Each harness is an `LLVMFuzzerTestOneInput`; its main.swift hands over to libFuzzer's driver,
// because SwiftPM links `main` to the module's own entry point.
//
// The directory is not called `Fuzz`: SwiftPM names a path dependency after its directory, and a checkout named
// `fuzz` would then clash with this package.
let shared: Target.Dependency = .product(name: "Shared", package: "poold")
let nio: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")

let package = Package(
    name: "poold-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "poold", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"]),
        // The wire codec: FrameDecoder (both modes, any read split), FrameScanner, FrontendMessage, BackendMessage.
        .executableTarget(name: "FuzzFrames", dependencies: ["FuzzSupport", shared, nio]),
        // A client's negotiation: startup packets, SSL and direct TLS, pool_hba and client auth (SessionStateMachine).
        .executableTarget(name: "FuzzStartup", dependencies: ["FuzzSupport", shared, nio]),
        // PCP: framing, M/R authentication and commands (PCPSession, PCPRequest).
        .executableTarget(name: "FuzzPCP", dependencies: ["FuzzSupport", shared]),
        // pgpool.conf (ConfigLoader, includes), pool_hba.conf, pool_passwd, pcp.conf, pgpool_status.
        .executableTarget(name: "FuzzConfig", dependencies: ["FuzzSupport", shared]),
        // Watchdog frames and their cluster payloads (WatchdogPacket).
        .executableTarget(name: "FuzzWatchdog", dependencies: ["FuzzSupport", shared]),
    ]
)
